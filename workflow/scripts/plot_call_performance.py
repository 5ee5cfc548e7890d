"""Rule plot_call_performance: call-rate/performance curves, one panel per test dataset."""

from routerlab.pipeline import setup_logging
from routerlab.tables import plot_call_performance

setup_logging(snakemake.log[0])
plot_call_performance(snakemake.input.curves, snakemake.output[0])
