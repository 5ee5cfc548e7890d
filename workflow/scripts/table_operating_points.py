"""Rule table_operating_points: threshold, call rate, recall and accuracy at each operating point."""

from routerlab.binary.tables import write_operating_points_table
from routerlab.core.runtime import setup_logging

log = setup_logging(snakemake.log[0])
table = write_operating_points_table(snakemake.input.thresholds, snakemake.input.curves, snakemake.params.call_rates,
                                     snakemake.output.md, snakemake.output.csv, snakemake.output.tex)
log.info("wrote %d operating points", len(table))
