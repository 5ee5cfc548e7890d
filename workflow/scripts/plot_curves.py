"""Rules plot_call_performance / plot_recovery: per test dataset the best router of each family,
random and the oracle."""

from routerlab.binary.tables import plot_curves
from routerlab.core.runtime import setup_logging

setup_logging(snakemake.log[0])
plot_curves(snakemake.input.curves, snakemake.output[0], y=snakemake.params.y, metric_paths=snakemake.input.metrics,
            label_paths=snakemake.input.labels, routers=snakemake.params.routers)
