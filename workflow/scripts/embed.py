"""Rule embed: sentence embeddings of each query."""

from routerlab.core.io import read_frame
from routerlab.core.runtime import set_threads, setup_logging
from routerlab.lm.embeddings import embed_dataset

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
embed_dataset(read_frame(snakemake.input.data), dict(snakemake.params.embedder), snakemake.output[0])
