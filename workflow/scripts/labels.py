"""Rule labels: weak and strong scores side by side, and the router's training label."""

from routerlab.binary.data import LABELS_VERSION, labels_frame
from routerlab.core.io import read_frame, write_frame
from routerlab.core.runtime import setup_logging

log = setup_logging(snakemake.log[0])
df = labels_frame(read_frame(snakemake.input.data), read_frame(snakemake.input.weak), read_frame(snakemake.input.strong))
log.info("weak %.3f strong %.3f, %d unusable rows", df["weak_score"].mean(), df["strong_score"].mean(),
         (~df["usable"]).sum())
write_frame(snakemake.output[0], df, meta={"version": LABELS_VERSION})
