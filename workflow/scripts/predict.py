"""Rule predict: weak-confidence scores of a trained router on a dataset's validation and test splits."""

from routerlab.binary.runs import predict_router
from routerlab.core.io import write_frame
from routerlab.core.runtime import setup_logging

log = setup_logging(snakemake.log[0])
w = snakemake.wildcards
labels = predict_router(snakemake.input.router, snakemake.input)
log.info("%s on %s: %d queries", w.router, w.test, len(labels))
write_frame(snakemake.output[0], labels, meta={"router": w.router, "train": w.train})
