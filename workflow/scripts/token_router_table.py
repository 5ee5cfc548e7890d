"""Rule token_router_table: threshold on validation, usage/recall on test, and where the usage goes."""

from routerlab.io import read_table, write_json, write_table
from routerlab.pipeline import setup_logging
from routerlab.token_router import token_curve, token_report, write_report

log = setup_logging(snakemake.log[0])
s = snakemake.params.settings
pred = read_table(snakemake.input.predictions)
report = token_report(pred, r_min=s["recall_target"], mode=s["threshold_mode"])
write_json(snakemake.output.thresholds, report)
write_table(snakemake.output.curve, token_curve(pred))
write_report(report, snakemake.output.md, snakemake.output.csv)
log.info("token router: %s", report["rows"][0])
