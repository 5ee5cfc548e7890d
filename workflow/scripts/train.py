"""Rule train: fit one router on the train split of a named union of datasets."""

from routerlab.gpu import lease_gpus
from routerlab.io import write_json
from routerlab.pipeline import load_routing_data, setup_logging
from routerlab.routers import describe, make_router

log = setup_logging(snakemake.log[0])
# Before anything touches CUDA: a router with `gpus` (the encoder classifier) gets its own devices.
gpu_lease = lease_gpus(snakemake.resources.get("gpu", 0))
entry = snakemake.params.router
data, labels = load_routing_data(snakemake.input.labels, snakemake.input.get("features"),
                                 snakemake.input.get("embeddings"), splits=["train"],
                                 cluster_paths=snakemake.input.get("samples"),
                                 self_check_paths=snakemake.input.get("self_check"),
                                 dataset_paths=snakemake.input.get("data"))
usable = labels["usable"].to_numpy()
router = make_router(entry["kind"], **entry["params"]).fit(data.take(usable.nonzero()[0]), labels["label"][usable])
router.save(snakemake.output.router)
info = {"router": describe(router), "train": snakemake.wildcards.train, "members": list(snakemake.params.members),
        "n_train": int(usable.sum()), "n_excluded_unparsed": int((~usable).sum()),
        "positive_rate": float(labels["label"][usable].mean())}
log.info("trained %s", info)
write_json(snakemake.output.info, info)
