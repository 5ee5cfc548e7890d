"""Rules leaderboard_table / reproduce_table: the leaderboard and the published-number checks."""

from routerlab.core.runtime import setup_logging
from routerlab.leaderboard.tables import write_leaderboard, write_reproduce

log = setup_logging(snakemake.log[0])
out = snakemake.output
if snakemake.rule == "leaderboard_table":
    df = write_leaderboard(snakemake.input.results, out.md, out.csv, out.tex,
                           {"kmodel": out.kmodel_csv, "binary": out.binary_csv}, out.leakage_csv)
else:
    df = write_reproduce(snakemake.input.results, out.md, out.csv)
log.info("wrote %d rows", len(df))
