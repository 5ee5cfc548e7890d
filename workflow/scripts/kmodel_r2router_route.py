"""Rule kmodel_r2router_route: route the test split with the bundle (ours, or one found by config or
R2_CHECKPOINT_DIR) at every lambda, beside single models, the oracle and RouterEval's routers."""

from pathlib import Path

from routerlab.core.io import write_json
from routerlab.core.runtime import set_threads, setup_logging
from routerlab.kmodel.evaluate import load_source, route_with_bundle

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
p = snakemake.params
src = load_source(snakemake.wildcards.source, Path(snakemake.input.outcomes).parent, snakemake.input.features)
result = route_with_bundle(src, snakemake.input.bundle, p.routers, p.prices, p.lambdas, beta=p.beta,
                           retrain_target=p.retrain_target)
for row in result.get("rows", []):
    log.info("%-40s acc %.4f cost/1k %.5f arena %s", row["router"], row["accuracy"], row["cost_per_1k"],
             row["arena_score"])
write_json(snakemake.output[0], result)
