"""Rule metrics: every binary-routing metric of one router on one dataset's test split."""

import pandas as pd

from routerlab.io import read_table, write_json, write_table
from routerlab.metrics import binary_report, performance_curve
from routerlab.pipeline import bootstrap_auroc, setup_logging

log = setup_logging(snakemake.log[0])
ev = snakemake.params.evaluation
df = read_table(snakemake.input.predictions)
test = df[df["split"] == "test"]
usable = test["usable"].to_numpy()
w, s, r = (test[c].to_numpy(float) for c in ("weak_score", "strong_score", "router_score"))
judged = bool(test["judge_scored"].all())
report = binary_report(w[usable], s[usable], r[usable], judge_scored=judged, lpm_band=tuple(ev["lpm_band"]),
                       recovery_band=tuple(ev["recovery_band"]), grid=ev["grid"], mode=ev["mode"])
report["n_unparsed_excluded"] = int((~usable).sum())
report["auroc_ci95"] = bootstrap_auroc(test["label"].to_numpy()[usable], r[usable], ev["bootstrap"])
curve = performance_curve(w[usable], s[usable], r[usable], grid=ev["grid"], mode=ev["mode"])
log.info("%s/%s/%s: AUROC %.3f", snakemake.wildcards.router, snakemake.wildcards.train, snakemake.wildcards.test,
         report["auroc"])
write_json(snakemake.output.metrics, report)
write_table(snakemake.output.curve, pd.DataFrame({k: curve[k] for k in ("call_rate", "performance", "recovery")}))
