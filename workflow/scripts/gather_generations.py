"""Gather generation shards into one table, in the row order of an unsharded run."""

from routerlab.core.io import read_frame_meta, write_frame
from routerlab.core.runtime import setup_logging
from routerlab.lm.generation import gather_generations

log = setup_logging(snakemake.log[0])
df = gather_generations(list(snakemake.input))
log.info("gathered %d rows from %d shards", len(df), len(snakemake.input))
write_frame(snakemake.output[0], df, meta=read_frame_meta(snakemake.input[0]))
