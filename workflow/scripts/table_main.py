"""Rule table_main: routers × test datasets with AUROC, LPM, MPM, HCR, APGR and an operating point."""

from routerlab.binary.tables import write_main_table
from routerlab.core.runtime import setup_logging

log = setup_logging(snakemake.log[0])
df = write_main_table(snakemake.input.metrics, snakemake.input.thresholds, snakemake.input.labels,
                      snakemake.params.evaluation, snakemake.output.md, snakemake.output.csv, snakemake.output.tex)
log.info("wrote %d rows", len(df))
