"""Gather feature shards (in shard order) into one feature directory."""

from routerlab.binary.features import concat_feature_dirs
from routerlab.core.io import read_json
from routerlab.core.runtime import setup_logging

log = setup_logging(snakemake.log[0])
meta = read_json(f"{snakemake.input[0]}/meta.json")
concat_feature_dirs(list(snakemake.input), snakemake.output[0], meta={k: meta[k] for k in ("model", "style")})
log.info("gathered %d shards", len(snakemake.input))
