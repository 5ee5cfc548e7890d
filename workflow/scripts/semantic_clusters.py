"""Rule semantic_clusters: each query's sampled answers grouped into meaning classes."""

from routerlab.binary.uncertainty import cluster_frame
from routerlab.core.io import read_frame, write_frame
from routerlab.core.runtime import set_threads, setup_logging

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
equivalence = dict(snakemake.params.equivalence)
df = cluster_frame(read_frame(snakemake.input.samples), read_frame(snakemake.input.data), equivalence)
per_query = df.groupby("id")["cluster"].nunique()
log.info("%d queries: %.2f meaning classes per query on average (methods %s)", len(per_query), per_query.mean(),
         sorted(df["method"].unique()))
write_frame(snakemake.output[0], df, meta={"equivalence": equivalence})
