"""Gather shard tables (in shard order) into one."""

from routerlab.io import read_table_meta, write_table
from routerlab.pipeline import gather_tables, setup_logging

log = setup_logging(snakemake.log[0])
df = gather_tables(list(snakemake.input))
log.info("gathered %d rows from %d shards", len(df), len(snakemake.input))
write_table(snakemake.output[0], df, meta=read_table_meta(snakemake.input[0]))
