"""Gather feature shards (in shard order) into one feature directory."""

from routerlab.features import concat_feature_dirs
from routerlab.io import read_json
from routerlab.pipeline import setup_logging

log = setup_logging(snakemake.log[0])
meta = read_json(f"{snakemake.input[0]}/meta.json")
concat_feature_dirs(list(snakemake.input), snakemake.output[0], meta={k: meta[k] for k in ("model", "style")})
log.info("gathered %d shards", len(snakemake.input))
