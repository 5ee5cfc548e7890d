"""Rule threshold: operating points chosen on validation, reported on test."""

from routerlab.io import read_table, write_json
from routerlab.metrics import OperatingPointPolicy
from routerlab.pipeline import setup_logging

log = setup_logging(snakemake.log[0])
df = read_table(snakemake.input.predictions)
df = df[df["usable"]]
val, test = df[df["split"] == "validation"], df[df["split"] == "test"]
policy = OperatingPointPolicy(recall_targets=tuple(snakemake.params.recall_targets),
                              budgets=tuple(snakemake.params.budgets), judge_scored=bool(df["judge_scored"].all()))
policy.fit(val["weak_score"].to_numpy(), val["strong_score"].to_numpy(), val["router_score"].to_numpy())
points = policy.apply(test["weak_score"].to_numpy(), test["strong_score"].to_numpy(), test["router_score"].to_numpy())
write_json(snakemake.output[0], {"policy": policy.to_dict(), "test": points, "n_validation": len(val), "n_test": len(test)})
