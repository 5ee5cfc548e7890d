"""Rule token_router_table: threshold on validation, usage/recall on test, and where the usage goes."""

from routerlab.core.io import read_frame, write_frame, write_json
from routerlab.core.runtime import setup_logging
from routerlab.token.router import token_curve, token_report, write_report

log = setup_logging(snakemake.log[0])
s = snakemake.params.settings
pred = read_frame(snakemake.input.predictions)
report = token_report(pred, r_min=s["recall_target"], mode=s["threshold_mode"])
write_json(snakemake.output.thresholds, report)
write_frame(snakemake.output.curve, token_curve(pred))
write_report(report, snakemake.output.md, snakemake.output.csv)
log.info("token router: %s", report["rows"][0])
