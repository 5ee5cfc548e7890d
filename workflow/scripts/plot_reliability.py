"""Rule plot_reliability: calibration of the probabilistic routers' scores on each test split."""

from routerlab.pipeline import setup_logging
from routerlab.tables import plot_reliability

setup_logging(snakemake.log[0])
plot_reliability(snakemake.input.predictions, snakemake.output[0])
