"""Rule generate: one shard of one model's answers to one dataset."""

from routerlab.core.gpu import lease_gpus
from routerlab.core.io import read_frame, write_frame
from routerlab.core.runtime import progress_logger, records, set_threads, setup_logging, shard_rows
from routerlab.lm.generation import backend_from_runtime
from routerlab.lm.loglik import answer_frame
from routerlab.lm.sampling import SamplingParams

log = setup_logging(snakemake.log[0])
# Before anything touches CUDA: this job's own devices (no-op on CPU).
gpu_lease = lease_gpus(snakemake.resources.get("gpu", 0))
set_threads(snakemake.threads)
rt = snakemake.params.runtime
params = SamplingParams.from_config(snakemake.params.sampling)
rows = shard_rows(read_frame(snakemake.input.data), int(snakemake.wildcards.shard), int(snakemake.wildcards.n))
backend = backend_from_runtime(rt, snakemake.input.model, prompt_overflow=snakemake.params.prompt_overflow)
log.info("generating %d prompts with %s (%s)", len(rows), snakemake.wildcards.model, params)
# Multiple-choice rows by answer log-likelihood with generation.mc_answers: loglik, the rest generated.
progress = progress_logger(f"generate {snakemake.wildcards.model}/{snakemake.wildcards.dataset}")
df = answer_frame(records(rows), backend, params, style=snakemake.params.style,
                  mc_answers=snakemake.params.mc_answers, price=rt["price"], progress=progress)
write_frame(snakemake.output[0], df, meta={"model": snakemake.wildcards.model, "sampling": params.as_dict(),
                                          "style": snakemake.params.style, "backend": rt["backend"],
                                          "mc_answers": snakemake.params.mc_answers})
