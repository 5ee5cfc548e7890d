"""Rule token_router_plot: test recall-usage curve with oracle/random references and the operating point."""

from routerlab.io import read_json, read_table
from routerlab.pipeline import setup_logging
from routerlab.token_router import plot_recall_usage

setup_logging(snakemake.log[0])
plot_recall_usage(read_table(snakemake.input.curve), read_json(snakemake.input.thresholds), snakemake.output[0])
