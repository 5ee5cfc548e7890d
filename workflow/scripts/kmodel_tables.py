"""Rules kmodel_table_routereval / kmodel_table_r2router: K-model tables (and the accuracy-cost plot)."""

from routerlab.core.runtime import setup_logging
from routerlab.kmodel.tables import write_r2router_table, write_routereval_table

log = setup_logging(snakemake.log[0])
out = snakemake.output
if snakemake.rule == "kmodel_table_routereval":
    df = write_routereval_table(snakemake.input.results, snakemake.wildcards.difficulty, out.md, out.csv)
else:
    df = write_r2router_table(snakemake.input.results, out.md, out.csv, out.plot)
log.info("wrote %d rows", len(df))
