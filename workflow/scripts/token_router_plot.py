"""Rule token_router_plot: test recall-usage curve with oracle/random references and the operating point."""

from routerlab.core.io import read_frame, read_json
from routerlab.core.runtime import setup_logging
from routerlab.token.router import plot_recall_usage

setup_logging(snakemake.log[0])
plot_recall_usage(read_frame(snakemake.input.curve), read_json(snakemake.input.thresholds), snakemake.output[0])
