"""Rule train: fit one router on the train split of a named union of datasets."""

from routerlab.binary.runs import train_router
from routerlab.core.gpu import lease_gpus
from routerlab.core.io import write_json
from routerlab.core.runtime import setup_logging

log = setup_logging(snakemake.log[0])
# Before anything touches CUDA: a router with `gpus` (the encoder classifier) gets its own devices.
gpu_lease = lease_gpus(snakemake.resources.get("gpu", 0))
router, info = train_router(snakemake.params.router, snakemake.input, snakemake.wildcards.train,
                            snakemake.params.members)
router.save(snakemake.output.router)
log.info("trained %s", info)
write_json(snakemake.output.info, info)
