"""Rule predict: weak-confidence scores of a trained router on a dataset's validation and test splits."""

from routerlab.io import write_table
from routerlab.pipeline import load_routing_data, setup_logging
from routerlab.routers import Router

log = setup_logging(snakemake.log[0])
router = Router.load(snakemake.input.router)
data, labels = load_routing_data([snakemake.input.labels[0]], snakemake.input.get("features"),
                                 snakemake.input.get("embeddings"), splits=["validation", "test"],
                                 cluster_paths=snakemake.input.get("samples"),
                                 self_check_paths=snakemake.input.get("self_check"),
                                 dataset_paths=snakemake.input.get("data"))
labels["router_score"] = router.score(data)
log.info("%s on %s: %d queries", router.name, snakemake.wildcards.test, len(labels))
write_table(snakemake.output[0], labels, meta={"router": snakemake.wildcards.router, "train": snakemake.wildcards.train})
