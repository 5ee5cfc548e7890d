"""Rule table_operating_points: threshold, call rate, recall and accuracy at each operating point."""

from routerlab.pipeline import setup_logging
from routerlab.tables import operating_points_table, write_table_files

log = setup_logging(snakemake.log[0])
table = operating_points_table(snakemake.input.thresholds, snakemake.input.curves, snakemake.params.call_rates)
notes = ["- kind recall: smallest validation threshold with recall of the weak model's errors >= target; "
         "budget: best validation accuracy with call rate <= target; both chosen on validation, reported on test.",
         "- kind call_rate: the exact test curve at that call rate (no threshold is fitted).",
         "- Escalate a query iff its router score <= threshold; threshold – means escalate none or all.",
         "- Numbers are means over seeds (seeds column); accuracy_std is their sample std."]
write_table_files(table, snakemake.output.md, snakemake.output.csv, snakemake.output.tex,
                  title="Operating points (validation -> test)", notes=notes)
log.info("wrote %d operating points", len(table))
