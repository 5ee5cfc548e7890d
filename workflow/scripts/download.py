"""Rule download: one dataset in the normalised schema, with deterministic splits."""

from routerlab.core.io import write_frame
from routerlab.core.runtime import setup_logging
from routerlab.datasets import SCHEMA_VERSION, assign_splits, load_dataset

log = setup_logging(snakemake.log[0])
name = snakemake.wildcards.dataset
df = load_dataset(name, dict(snakemake.params.spec))
df["split"] = assign_splits(df["id"].tolist(), dict(snakemake.params.splits), snakemake.params.split_seed)
log.info("%s: %d rows, splits %s", name, len(df), df["split"].value_counts().to_dict())
write_frame(snakemake.output[0], df, meta={"schema_version": SCHEMA_VERSION, "dataset": name})
