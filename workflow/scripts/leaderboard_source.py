"""Rule leaderboard_source: every router on one kmodel source, both families, leakage and checks."""

from pathlib import Path

from routerlab.core.io import write_frame, write_json
from routerlab.core.runtime import set_threads, setup_logging
from routerlab.kmodel.evaluate import load_source
from routerlab.leaderboard.run import evaluate_source

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
src = load_source(snakemake.wildcards.source, Path(snakemake.input.outcomes).parent, snakemake.input.features)
result, picks = evaluate_source(src, snakemake.params.spec)
for row in result["rows"]:
    key = "score" if row["family"] == "kmodel" else "apgr"
    log.info("%s %-40s %s %.4f [%s, %s]", row["family"], row["router"], key, row[key] if row[key] is not None
             else float("nan"), row[f"{key}_lo"], row[f"{key}_hi"])
log.info("leakage: %s", {k: result["leakage"][k] for k in ("n_test", "exact", "near")})
write_frame(snakemake.output.picks, picks)
write_json(snakemake.output.result, result)
