"""Rule plot_reliability: calibration of the probabilistic routers' scores on each test split."""

from routerlab.binary.tables import plot_reliability
from routerlab.core.runtime import setup_logging

setup_logging(snakemake.log[0])
plot_reliability(snakemake.input.predictions, snakemake.output[0])
