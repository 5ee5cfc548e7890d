"""Rule labels: weak and strong scores side by side, and the router's training label."""

from routerlab.binary.data import LABELS_VERSION, labels_frame
from routerlab.core.io import read_frame, write_frame
from routerlab.core.runtime import setup_logging

log = setup_logging(snakemake.log[0])
inputs = snakemake.input
# sources: a scores table missing some dataset ids fails here, naming both files
df = labels_frame(read_frame(inputs.data), read_frame(inputs.weak), read_frame(inputs.strong),
                  sources={"data": inputs.data, "weak": inputs.weak, "strong": inputs.strong})
log.info("weak %.3f strong %.3f, %d unusable rows (scored, no verdict)", df["weak_score"].mean(),
         df["strong_score"].mean(), (~df["usable"]).sum())
write_frame(snakemake.output[0], df, meta={"version": LABELS_VERSION})
