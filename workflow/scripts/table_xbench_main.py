"""Rule table_xbench_main: RouterXBench's main table (AUROC, LPM, MPM, HCR; in- and out-of-domain)."""

from routerlab.binary.tables import write_xbench_main_table
from routerlab.core.runtime import setup_logging

log = setup_logging(snakemake.log[0])
long = write_xbench_main_table(snakemake.input.metrics, snakemake.params.train_sets, snakemake.output.md,
                               snakemake.output.csv, snakemake.output.tex)
log.info("wrote %d rows over %d test sets", len(long), long["test"].nunique())
