"""Rule self_check: P(Yes) when a model is asked whether its own answer is correct."""

from routerlab.binary.uncertainty import SelfChecker, self_check_frame
from routerlab.core.gpu import lease_gpus
from routerlab.core.io import read_frame, write_frame
from routerlab.core.runtime import progress_logger, set_threads, setup_logging

log = setup_logging(snakemake.log[0])
# Before anything touches CUDA: this job's own devices (no-op on CPU).
gpu_lease = lease_gpus(snakemake.resources.get("gpu", 0))
set_threads(snakemake.threads)
rt = snakemake.params.runtime
data = read_frame(snakemake.input.data)
data = data[data["split"].isin(snakemake.params.splits)].reset_index(drop=True)
batching = {k: v for k, v in rt["options"].items() if k in ("token_budget", "max_batch_size")}
checker = SelfChecker(snakemake.input.model, device=rt["device"], dtype=rt["dtype"], **batching)
log.info("self-checking %d answers of %s; yes tokens %s, no tokens %s", len(data), snakemake.wildcards.model,
         checker.yes_ids, checker.no_ids)
df = self_check_frame(data, read_frame(snakemake.input.generations), checker, snakemake.params.prompt,
                      style=snakemake.params.style,
                      progress=progress_logger(f"self_check {snakemake.wildcards.model}/{snakemake.wildcards.dataset}"))
log.info("mean P(Yes) %.3f, mean Yes+No mass %.3f", df["p_yes"].mean(), (df["yes_mass"] + df["no_mass"]).mean())
write_frame(snakemake.output[0], df, meta={"model": snakemake.wildcards.model, "prompt": snakemake.params.prompt,
                                          "style": snakemake.params.style})
