"""Rules kmodel_table_routereval / kmodel_table_r2router: K-model tables (and the accuracy-cost plot)."""

from routerlab.kmodel import tables
from routerlab.pipeline import setup_logging

log = setup_logging(snakemake.log[0])
if snakemake.rule == "kmodel_table_routereval":
    difficulty = snakemake.wildcards.difficulty
    df, notes = tables.routereval_table(snakemake.input.results)
    title = f"RouterEval, {difficulty} pools (test split)"
else:
    df, notes = tables.r2router_table(snakemake.input.results)
    title = "R2-Router and cost-aware routing (test split)"
    tables.plot_accuracy_cost(snakemake.input.results, snakemake.output.plot)
tables.write(df, notes, title, snakemake.output.md, snakemake.output.csv)
log.info("wrote %d rows", len(df))
