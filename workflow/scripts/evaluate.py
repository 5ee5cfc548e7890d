"""Rule evaluate: operating points (validation -> test) and every binary metric on the test split."""

from routerlab.binary.runs import evaluate_predictions
from routerlab.core.io import read_frame, write_frame, write_json
from routerlab.core.runtime import setup_logging

log = setup_logging(snakemake.log[0])
p = snakemake.params
thresholds, metrics, curve = evaluate_predictions(read_frame(snakemake.input.predictions), p.evaluation,
                                                  p.recall_targets, p.budgets)
w = snakemake.wildcards
log.info("%s/%s/seed%s/%s: AUROC %.3f", w.router, w.train, w.seed, w.test, metrics["auroc"])
write_json(snakemake.output.thresholds, thresholds)
write_json(snakemake.output.metrics, metrics)
write_frame(snakemake.output.curve, curve)
