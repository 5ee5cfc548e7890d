"""Rule kmodel_features: one feature row per query of a source (embeddings, embedder, tfidf or given)."""

from routerlab.core.io import read_frame
from routerlab.core.runtime import set_threads, setup_logging
from routerlab.kmodel import features

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
spec = snakemake.params.spec
queries = read_frame(snakemake.input.queries)
dirs = dict(zip(spec.get("datasets", []), snakemake.input.get("embeddings", [])))
X = features.build(queries, spec["mode"], embedding_dirs=dirs, embedder=spec.get("embedder"),
                   routereval_file=snakemake.input.get("pickle"), dim=spec["dim"])
log.info("%s: features %s (%s)", snakemake.wildcards.source, X.shape, spec["mode"])
features.save(snakemake.output[0], queries["query_id"].astype(str).tolist(), X, {"spec": spec})
