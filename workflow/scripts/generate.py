"""Rule generate: one shard of one model's answers to one dataset."""

from routerlab.generation import SamplingParams, generate_frame, make_backend
from routerlab.gpu import lease_gpus
from routerlab.io import read_table, write_table
from routerlab.pipeline import progress_logger, records, set_threads, setup_logging, shard_rows

log = setup_logging(snakemake.log[0])
# Before anything touches CUDA: this job's own devices (no-op on CPU).
gpu_lease = lease_gpus(snakemake.resources.get("gpu", 0))
set_threads(snakemake.threads)
rt = snakemake.params.runtime
params = SamplingParams.from_config(snakemake.params.sampling)
rows = shard_rows(read_table(snakemake.input.data), int(snakemake.wildcards.shard), int(snakemake.wildcards.n))
options = dict(rt["options"])
if rt["backend"] != "openai":
    options.update(dtype=rt["dtype"])
if rt["backend"] == "transformers":
    options.update(device=rt["device"])
backend = make_backend(rt["backend"], snakemake.input.model, options)
log.info("generating %d prompts with %s (%s)", len(rows), snakemake.wildcards.model, params)
df = generate_frame(records(rows), backend, params, style=snakemake.params.style, price=rt["price"],
                    progress=progress_logger(f"generate {snakemake.wildcards.model}/{snakemake.wildcards.dataset}"))
write_table(snakemake.output[0], df, meta={"model": snakemake.wildcards.model, "sampling": params.as_dict(),
                                          "style": snakemake.params.style, "backend": rt["backend"]})
