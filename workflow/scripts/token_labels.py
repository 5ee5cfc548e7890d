"""Rule token_labels: per-token divergence labels and weak-model features from one teacher-forced pass."""

from routerlab.core.gpu import lease_gpus
from routerlab.core.io import read_frame, read_frame_meta
from routerlab.core.runtime import progress_logger, set_threads, setup_logging
from routerlab.token.labels import run_labels, write_token_tables

log = setup_logging(snakemake.log[0])
# Before anything touches CUDA: this job's own devices (no-op on CPU).
gpu_lease = lease_gpus(snakemake.resources.get("gpu", 0))
set_threads(snakemake.threads)
s = snakemake.params.settings
rt = s["runtime"]
tokens, arrays, meta = run_labels(read_frame(snakemake.input.continuations),
                                  read_frame_meta(snakemake.input.continuations), snakemake.input.weak,
                                  rt["model"], rt, rt["batching"]["token_budget"], rt["batching"]["max_batch_size"],
                                  s["top_k"], s["meaningful"],
                                  progress=progress_logger(f"token labels {snakemake.wildcards.dataset}"))
log.info("%d tokens, divergence prevalence %.3f", len(tokens), tokens["label"].mean())
write_token_tables(snakemake.output[0], tokens, arrays, meta)
