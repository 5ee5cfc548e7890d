"""Rule table_xbench_ablation_layers: probe fusion variants (mean, Dirichlet, single layers)."""

from routerlab.binary.tables import write_ablation_table
from routerlab.core.runtime import setup_logging

log = setup_logging(snakemake.log[0])
table = write_ablation_table(snakemake.input.metrics, snakemake.params.routers, snakemake.output.md,
                             snakemake.output.csv, snakemake.output.tex)
log.info("wrote %d variants", len(table))
