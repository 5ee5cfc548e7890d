"""Rule materialise_model: resolve a model spec into a fast-loading local copy or pointer."""

from routerlab.core.runtime import set_threads, setup_logging
from routerlab.lm.models import materialise

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
record = materialise(dict(snakemake.params.spec), snakemake.output[0], dtype=snakemake.params.spec.get("dtype", "auto"))
log.info("model %s ready: %s", snakemake.wildcards.model, record)
