"""Rule kmodel_r2router_train: R2-Router's classifier and predictors on the train split -> checkpoint bundle.

A source R2-Router cannot use (no costs, or RouterEval pools) gets a bundle directory holding
only UNAVAILABLE.json with the reason, which the route step turns into a note row.
"""

from pathlib import Path

from routerlab.core.io import write_json
from routerlab.core.runtime import set_threads, setup_logging
from routerlab.kmodel.evaluate import load_source, train_r2, usage_mode

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
p = snakemake.params
src = load_source(snakemake.wildcards.source, Path(snakemake.input.outcomes).parent, snakemake.input.features)
kind, why = usage_mode(src.outcomes, p.prices)
if kind is None:
    log.info("R2-Router not applicable: %s", why)
    write_json(Path(snakemake.output[0]) / "UNAVAILABLE.json", {"reason": why})
else:
    router, split, routing = train_r2(src, p.prices, p.params, p.lambdas, p.beta)
    log.info("categories %s; classifier %s; usage %s", router.categories_, router.classifier_cv_, routing["usage"])
    router.save(snakemake.output[0], split=split, routing_results=routing)
