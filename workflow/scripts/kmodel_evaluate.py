"""Rule kmodel_evaluate: RouterEval's routers on every pool and candidate group of one difficulty."""

from pathlib import Path

from routerlab.core.io import write_frame, write_json
from routerlab.core.runtime import set_threads, setup_logging
from routerlab.kmodel.evaluate import evaluate_routereval, load_source

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
p = snakemake.params
src = load_source(snakemake.wildcards.source, Path(snakemake.input.outcomes).parent, snakemake.input.features)
result, selections = evaluate_routereval(src, snakemake.wildcards.difficulty, p.routers, sizes=p.sizes,
                                         groups=p.groups, reference=p.reference)
for note in result["notes"]:
    log.info("%s", note)
for row in result["rows"]:
    log.info("%s %s: mu %.4f vb %.4f ep %.3f (%.1fs)", row["pool"], row["router"], row["mu"], row["vb"], row["ep"],
             row["fit_predict_s"])
write_frame(snakemake.output.selections, selections)
write_json(snakemake.output.result, result)
