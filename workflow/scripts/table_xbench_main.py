"""Rule table_xbench_main: RouterXBench's main table (AUROC, LPM, MPM, HCR; in- and out-of-domain)."""

from routerlab.pipeline import setup_logging
from routerlab.tables import collect_runs, write_table_files, xbench_main_table

log = setup_logging(snakemake.log[0])
long, wide = xbench_main_table(collect_runs(snakemake.input.metrics), snakemake.params.train_sets)
notes = ["- ID = the test set is part of the router's training union, OOD = it is not (RouterXBench's split).",
         "- mean ± sample std over seeds where a router has several; LPM = mean performance at call rates in the "
         "low band, MPM in the middle band, HCR = call-rate saving in the recovery band (docs/metrics.md §1)."]
write_table_files(wide, snakemake.output.md, snakemake.output.csv, snakemake.output.tex,
                  title="RouterXBench main table (test splits)", notes=notes, data=long)
log.info("wrote %d routers x %d test sets", len(wide), long["test"].nunique())
