"""Rules plot_call_performance / plot_recovery: one curve per router, one panel per test dataset."""

from routerlab.binary.tables import plot_curves
from routerlab.core.runtime import setup_logging

setup_logging(snakemake.log[0])
plot_curves(snakemake.input.curves, snakemake.output[0], y=snakemake.params.y)
