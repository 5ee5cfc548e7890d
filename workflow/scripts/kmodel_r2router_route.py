"""Rule kmodel_r2router_route: route the test split with the bundle (ours, or one found by config or
R2_CHECKPOINT_DIR) at every lambda, beside single models, the oracle and RouterEval's routers."""

from pathlib import Path

from routerlab.io import read_json, write_json
from routerlab.kmodel.evaluate import candidates, evaluate_cost, load_source, unavailable, usage_mode
from routerlab.kmodel.r2router import R2Router
from routerlab.pipeline import set_threads, setup_logging

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
p = snakemake.params
source = snakemake.wildcards.source
bundle = Path(snakemake.input.bundle)
src = load_source(source, Path(snakemake.input.outcomes).parent, snakemake.input.features)
kind, why = usage_mode(src.outcomes, p.prices)
if kind is None:
    result = unavailable(source, why)
elif (bundle / "UNAVAILABLE.json").is_file():
    result = unavailable(source, read_json(bundle / "UNAVAILABLE.json")["reason"])
else:
    log.info("loading the R2-Router bundle %s", bundle)
    router = R2Router.load(bundle, retrain_target=p.retrain_target)
    router.check_compatible(candidates(src.outcomes), kind, src.X.shape[1], bundle, p.retrain_target)
    result = evaluate_cost(src, p.routers, router, p.prices, p.lambdas, beta=p.beta, usage_reason=why)
    result["bundle"] = str(bundle)
    for row in result["rows"]:
        log.info("%-40s acc %.4f cost/1k %.5f arena %s", row["router"], row["accuracy"], row["cost_per_1k"],
                 row["arena_score"])
write_json(snakemake.output[0], result)
