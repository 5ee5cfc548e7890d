"""Rule table_main: routers × test datasets with AUROC, LPM, MPM, HCR, APGR and an operating point."""

from routerlab.io import read_table
from routerlab.pipeline import setup_logging
from routerlab.tables import main_table, write_table_files

log = setup_logging(snakemake.log[0])
df = main_table(snakemake.input.metrics, snakemake.input.thresholds)
notes = []
for path in snakemake.input.labels:
    lab = read_table(path)
    t = lab[(lab["split"] == "test") & lab["usable"]]
    notes.append(f"- {path.split('/')[-1].removesuffix('.parquet')}: test n={len(t)}, "
                 f"weak accuracy {t.weak_score.mean():.3f}, strong {t.strong_score.mean():.3f}")
notes.append("- AUROC of weak-confidence vs weak correctness, 95% bootstrap CI; LPM band [0.25, 0.30], "
             "recovery band [0.85, 0.95]; call_rate@recall0.95: threshold chosen on validation, applied to test.")
write_table_files(df, snakemake.output.md, snakemake.output.csv, snakemake.output.tex,
                  title="Routers × datasets (test split)", notes=notes)
log.info("wrote %d rows", len(df))
