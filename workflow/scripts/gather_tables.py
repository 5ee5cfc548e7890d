"""Gather generation shards into one table, in the row order of an unsharded run."""

from routerlab.generation import gather_generations
from routerlab.io import read_table_meta, write_table
from routerlab.pipeline import setup_logging

log = setup_logging(snakemake.log[0])
df = gather_generations(list(snakemake.input))
log.info("gathered %d rows from %d shards", len(df), len(snakemake.input))
write_table(snakemake.output[0], df, meta=read_table_meta(snakemake.input[0]))
