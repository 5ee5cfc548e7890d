"""Rule token_continuations: the strong model's continuations (exact token ids) for the token router."""

from routerlab.core.gpu import lease_gpus
from routerlab.core.io import read_frame, write_frame
from routerlab.core.runtime import progress_logger, set_threads, setup_logging
from routerlab.token.labels import run_continuations

log = setup_logging(snakemake.log[0])
# Before anything touches CUDA: this job's own devices (no-op on CPU).
gpu_lease = lease_gpus(snakemake.resources.get("gpu", 0))
set_threads(snakemake.threads)
s = snakemake.params.settings
rt = s["runtime"]
cont, meta = run_continuations(read_frame(snakemake.input.data), snakemake.input.strong, snakemake.input.weak,
                               s["names"], rt, s["sampling"], s["style"], s["max_prompts"],
                               rt["batching"]["token_budget"], rt["batching"]["max_batch_size"],
                               progress=progress_logger(f"token continuations {snakemake.wildcards.dataset}"))
log.info("%d continuations, %d tokens, finish reasons %s", len(cont), int(cont["continuation_ids"].map(len).sum()),
         cont["finish_reason"].value_counts().to_dict())
write_frame(snakemake.output[0], cont, meta=meta)
