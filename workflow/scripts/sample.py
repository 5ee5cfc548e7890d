"""Rule sample: N sampled answers per query from one model (inputs of semantic entropy)."""

from routerlab.binary.uncertainty import sample_frame
from routerlab.core.gpu import lease_gpus
from routerlab.core.io import read_frame, write_frame
from routerlab.core.runtime import progress_logger, records, set_threads, setup_logging
from routerlab.lm.generation import backend_from_runtime
from routerlab.lm.sampling import SamplingParams

log = setup_logging(snakemake.log[0])
# Before anything touches CUDA: this job's own devices (no-op on CPU).
gpu_lease = lease_gpus(snakemake.resources.get("gpu", 0))
set_threads(snakemake.threads)
params = SamplingParams.from_config(snakemake.params.sampling)
data = read_frame(snakemake.input.data)
rows = data[data["split"].isin(snakemake.params.splits)]
backend = backend_from_runtime(snakemake.params.runtime, snakemake.input.model)
log.info("sampling %d prompts (splits %s) with %s (%s)", len(rows), snakemake.params.splits,
         snakemake.wildcards.model, params)
df = sample_frame(records(rows), backend, params, style=snakemake.params.style,
                  progress=progress_logger(f"sample {snakemake.wildcards.model}/{snakemake.wildcards.dataset}"))
write_frame(snakemake.output[0], df, meta={"model": snakemake.wildcards.model, "sampling": params.as_dict(),
                                          "style": snakemake.params.style, "splits": list(snakemake.params.splits)})
