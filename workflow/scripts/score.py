"""Rule score: per-query correctness of one model's answers."""

from routerlab.io import read_table, write_table
from routerlab.pipeline import score_frame, setup_logging

log = setup_logging(snakemake.log[0])
data = read_table(snakemake.input.data)
gens = read_table(snakemake.input.generations)
scores = score_frame(data, gens)
log.info("%s/%s: mean score %.3f over %d answers; statuses %s", snakemake.wildcards.model,
         snakemake.wildcards.dataset, scores["score"].mean(), len(scores), scores["status"].value_counts().to_dict())
write_table(snakemake.output[0], scores, meta={"model": snakemake.wildcards.model})
