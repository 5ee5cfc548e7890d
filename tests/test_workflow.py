"""A real tiny workflow run (.test/config.yaml: SmolLM2-135M weak, Qwen2.5-Coder-0.5B strong).

One run, killed part-way and resumed, then checked: table contents against values
recomputed from the predictions, no-op re-run, selective re-runs, config errors, lint.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import reference_metrics as reference
import yaml
from conftest import SNAKEMAKE, copy_project, job_counts, smk, written

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tiny_workflow_run):
    """The tiny run, killed part-way and resumed (tests/conftest.py; shared with test_slurm.py)."""
    return tiny_workflow_run


@pytest.mark.slow
def test_resume_after_kill_redoes_no_finished_job(run):
    wd, finished, _ = run
    assert any("generations" in p.parts for p in finished), "no gathered generation had finished: the check is weak"
    for path, mtime in finished.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was recomputed after the kill"
    for p in (wd / "results").rglob("*.parquet"):
        pd.read_parquet(p)  # every table is complete and readable: outputs are written atomically


@pytest.mark.slow
def test_main_table_matches_recomputed_metrics(run):
    wd, _, _ = run
    cfg = yaml.safe_load((wd / ".test" / "config.yaml").read_text())
    routers = set(cfg["routers"])
    table = pd.read_csv(wd / "results" / "tables" / "main.csv")
    assert sorted(zip(table.router, table.test)) == sorted((r, t) for r in routers for t in cfg["evaluation"]["test"])
    seeds = cfg["training"]["seeds"]
    for row in table.itertuples():
        runs = sorted((wd / f"results/predictions/{row.router}/{row.train}").glob(f"seed*/{row.test}.parquet"))
        assert row.seeds == len(runs) and len(runs) in (1, len(seeds))  # seeded routers once per seed
        per_run = []
        for path in runs:
            pred = pd.read_parquet(path)
            test = pred[(pred.split == "test") & pred.usable]
            assert row.n == len(test)
            w, s, r = (test[c].tolist() for c in ("weak_score", "strong_score", "router_score"))
            expected = {**reference.binary_metrics(w, s, r), "auroc": reference.auroc(test.label.tolist(), r)}
            per_run.append(expected)
            metrics_json = json.loads(Path(str(path).replace("/predictions/", "/metrics/")).with_suffix(".json")
                                      .read_text())  # exact floats: CPT is only in the per-run metrics file
            for key in ("cpt_20", "cpt_50", "cpt_80", "lpm", "mpm", "hcr", "apgr"):
                assert metrics_json[key] == pytest.approx(expected[key], abs=1e-12, nan_ok=True), (path, key)
        expected = {k: reference.nanmean([m[k] for m in per_run]) for k in per_run[0]}
        for col in ("weak", "strong", "auroc", "lpm", "mpm", "hcr", "apgr"):
            assert getattr(row, col) == written(expected[col]), col
        if len(runs) > 1:
            aurocs = [m["auroc"] for m in per_run]
            assert row.auroc_std == written(np.std(aurocs, ddof=1))
    md = (wd / "results" / "tables" / "main.md").read_text()
    assert md.count("\n| ") == len(table) + 1  # header + one line per row
    first = table.iloc[0]
    assert f"| {first.router} | {first.train} | {first.test} | {first.n} |" in md
    # the weak model's labels are real: both datasets were scored by the verifiers
    labels = pd.read_parquet(wd / "results/labels/choice.parquet")
    assert set(labels.weak_status) <= {"ok", "unparsed"} and labels.usable.all()


@pytest.mark.slow
def test_paper_tables_agree_with_main_table(run):
    wd, _, _ = run
    main = pd.read_csv(wd / "results/tables/main.csv").set_index(["router", "train", "test"])
    xbench = pd.read_csv(wd / "results/tables/xbench_main.csv").set_index(["router", "train", "test"])
    assert set(xbench.index) == set(main.index)
    for col in ("auroc", "lpm", "mpm", "hcr"):
        np.testing.assert_allclose(xbench[col], main.loc[xbench.index, col], equal_nan=True)
    assert set(xbench["domain"]) == {"ID"}  # .test trains on the union of both test sets
    md = (wd / "results/tables/xbench_main.md").read_text()
    assert "arithmetic (ID) AUROC" in md and " ± " in md  # seeded routers show their spread
    ablation = pd.read_csv(wd / "results/tables/xbench_ablation_layers.csv")
    assert set(ablation["router"]) == {"mean_probe", "dirichlet_probe"}
    ops = pd.read_csv(wd / "results/tables/operating_points.csv")
    recall_ops = ops[ops.kind == "recall"]
    assert set(recall_ops.target) == {0.8, 0.9, 0.95}
    # a recall point re-applied to the test predictions gives the reported call rate and recall
    # (mean_probe is deterministic: one seed, so the table holds that run's own numbers)
    finite = recall_ops[(recall_ops.router == "mean_probe") & recall_ops.threshold.notna()]
    for row in finite.itertuples():
        pred = pd.read_parquet(wd / f"results/predictions/mean_probe/all/seed0/{row.test}.parquet")
        test = pred[(pred.split == "test") & pred.usable]
        escalate = test.router_score <= row.threshold
        assert row.call_rate == written(escalate.mean())
        errors = test.label == 0
        if errors.any():
            assert row.recall == written((escalate & errors).sum() / errors.sum())
    fixed = ops[(ops.kind == "call_rate") & (ops.router == "mean_probe") & (ops.test == "choice")]
    assert list(fixed.target) == [0.1, 0.2, 0.3, 0.5]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["call_performance", "recovery", "reliability"])
def test_plots_are_pngs_with_content(run, name):
    wd, _, _ = run
    data = (wd / f"results/plots/{name}.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


@pytest.mark.slow
def test_kmodel_tables_match_score_tables(run):
    """K-model tables of the tiny run, recomputed from the score tables: oracle >= every single model."""
    wd, _, _ = run
    queries = pd.read_parquet(wd / "results/kmodel/pipeline/queries.parquet")
    test_ids = queries.loc[queries.split == "test", "query_id"].tolist()
    models = ["qwen-coder-0.5b", "smollm2-135m"]  # the .test pool, in the tables' (sorted) order
    Y = np.column_stack([
        pd.concat([pd.read_parquet(wd / f"results/scores/{m}/{d}.parquet") for d in ("arithmetic", "choice")])
        .groupby("id").score.first().reindex(test_ids).to_numpy() for m in models])
    easy = pd.read_csv(wd / "results/tables/routereval_easy.csv")
    pool = easy[(easy.pool == "easy-2") & (easy.group == "all_strong")]
    oracle = pool[pool.router == "oracle"].iloc[0]
    best_single = pool[pool.router.str.startswith("best single (test)")].mu.iloc[0]
    # values read back from the CSV are compared at its written precision (10 significant digits);
    # orderings compare two written values, since rounding keeps >=.
    assert oracle.mu == written(Y.max(axis=1).mean()) and best_single == written(Y.mean(axis=0).max())
    assert oracle.mu >= best_single and (pool.mu <= oracle.mu).all()
    assert easy[easy.pool == "easy-3"].router.iloc[0].startswith("skipped: it needs 3 candidate models")
    r2 = pd.read_csv(wd / "results/tables/r2router.csv")
    for j, m in enumerate(models):
        assert r2.loc[r2.router == m, "accuracy"].iloc[0] == written(Y[:, j].mean())
    assert r2.loc[r2.router == "oracle", "accuracy"].iloc[0] >= r2.loc[r2.kind == "single", "accuracy"].max()
    assert (wd / "results/plots/kmodel_accuracy_cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_second_run_does_nothing(run):
    wd, _, _ = run
    out = smk(wd, "--configfile", ".test/config.yaml")
    assert "Nothing to be done" in out.stdout + out.stderr


@pytest.mark.slow
def test_changing_strong_model_reruns_only_its_dependants(run, tmp_path):
    wd, _, _ = run
    cfg = yaml.safe_load((wd / ".test" / "config.yaml").read_text())
    cfg["models"]["qwen-coder-0.5b"]["dtype"] = "float32"  # the strong model; was `auto`
    (wd / "changed.yaml").write_text(yaml.safe_dump(cfg))  # sorted keys: order must not matter
    out = smk(wd, "-n", "--configfile", "changed.yaml")
    counts = job_counts(out.stdout)
    assert counts.get("materialise_model") == 1
    assert counts.get("generate") == 4  # strong model only: 2 datasets x 2 shards
    assert "features" not in counts and "embed" not in counts and "download" not in counts
    assert "rule generate" in out.stdout and "model=smollm2-135m, dataset" not in out.stdout.split("rule generate")[1][:200]


@pytest.mark.slow
def test_llm_judge_scores_a_dataset_in_the_score_rule(run, tmp_path):
    """xVerify judging through the score rule with a real model; only that dataset's score jobs re-run."""
    from routerlab.scoring import parse_xverify

    wd = tmp_path / "judged"
    shutil.copytree(run[0], wd, symlinks=True)
    cfg = yaml.safe_load((wd / ".test" / "config.yaml").read_text())
    cfg["judge"] = {"model": "smollm2-135m", "method": "xverify", "datasets": ["choice"],
                    "sampling": {"max_new_tokens": 8}}
    (wd / "judged.yaml").write_text(yaml.safe_dump(cfg))
    dry = smk(wd, "-n", "results/labels/choice.parquet", "results/labels/arithmetic.parquet",
              "--configfile", "judged.yaml")
    assert job_counts(dry.stdout) == {"score": 2, "labels": 1, "total": 3}  # choice only, both models
    smk(wd, "results/scores/qwen-coder-0.5b/choice.parquet", "--configfile", "judged.yaml")
    scores = pd.read_parquet(wd / "results/scores/qwen-coder-0.5b/choice.parquet")
    data = pd.read_parquet(wd / "results/data/choice.parquet")
    assert sorted(scores["id"]) == sorted(data["id"]) and scores["judge_reply"].notna().all()
    for row in scores.itertuples():  # each stored score is the verdict parsed from the stored reply
        verdict = parse_xverify(row.judge_reply)
        assert row.status == verdict.status
        assert row.score == verdict.score or (np.isnan(row.score) and np.isnan(verdict.score))


@pytest.mark.slow
@pytest.mark.parametrize("table,rule", [("main", "table_main"), ("xbench_main", "table_xbench_main"),
                                        ("operating_points", "table_operating_points")])
def test_regenerate_one_table_from_cache(run, table, rule):
    """`snakemake results/tables/<name>.md` rebuilds that table alone, byte for byte."""
    wd, _, _ = run
    md = wd / f"results/tables/{table}.md"
    before = md.read_text()
    md.unlink()
    out = smk(wd, f"results/tables/{table}.md", "--configfile", ".test/config.yaml")
    assert job_counts(out.stdout + out.stderr) == {rule: 1, "total": 1}
    assert md.read_text() == before


@pytest.mark.parametrize("patch,expected", [
    ({"bogus_key": 1}, "bogus_key"),
    ({"generation": {"shards": "two"}}, "two"),
    ({"models": {"w": {"source": "pypi-gguf", "name": "no-such-model"}}, "weak": "w", "strong": "w"},
     "models.w.name = 'no-such-model'"),
    ({"weak": "missing"}, "weak = 'missing': not a key of models"),
    ({"routers": {"x": {"kind": "nope"}}}, "routers.x: unknown binary router 'nope'"),
    ({"training": {"sets": {"all": ["arithmetic", "ghost"]}}}, "training.sets.all: dataset 'ghost'"),
])
def test_bad_config_fails_before_any_job(tmp_path, patch, expected):
    wd = copy_project(tmp_path / "p")
    cfg = yaml.safe_load((wd / ".test" / "config.yaml").read_text())
    cfg.update(patch)
    (wd / "bad.yaml").write_text(yaml.safe_dump(cfg))
    out = smk(wd, "-n", "--configfile", "bad.yaml", check=False, timeout=300)
    assert out.returncode != 0
    assert expected in out.stdout + out.stderr
    assert not (wd / "results").exists()


def test_dataset_row_without_prompt_names_the_row(tmp_path):
    wd = copy_project(tmp_path / "p")
    (wd / "qa.jsonl").write_text(json.dumps({"question": "What is 1+1?", "answer": "#### 2"}) + "\n"
                                 + json.dumps({"question": "", "answer": "#### 3"}) + "\n")
    cfg = yaml.safe_load((wd / ".test" / "config.yaml").read_text())
    cfg["datasets"]["broken"] = {"source": "local", "format": "gsm8k", "path": "qa.jsonl"}
    (wd / "c.yaml").write_text(yaml.safe_dump(cfg))
    out = smk(wd, "results/data/broken.parquet", "--configfile", "c.yaml", check=False, timeout=300)
    assert out.returncode != 0
    message = out.stdout + out.stderr
    assert "broken-1" in message and "prompt" in message
    assert not (wd / "results/data/broken.parquet").exists()


def test_lint_and_format():
    lint = subprocess.run([*SNAKEMAKE, "--lint"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_readme_dag_is_drawn_from_the_workflow(tmp_path):
    """README's DAG block equals `snakemake --rulegraph mermaid-js` now, and the check notices a stale one."""
    check = subprocess.run([sys.executable, "scripts/readme_dag.py", "--check"], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert check.returncode == 0, check.stderr
    readme = (ROOT / "README.md").read_text()
    for rule in ("table_main", "token_router_table", "kmodel_table_routereval", "kmodel_table_r2router"):
        assert f"[{rule}]" in readme  # every branch is drawn
    wd = copy_project(tmp_path / "p")
    shutil.copytree(ROOT / "scripts", wd / "scripts")
    stale = wd / "README.md"
    stale.write_text(readme.replace("[table_main]", "[threshold]"))
    out = subprocess.run([sys.executable, "scripts/readme_dag.py", "--check"], cwd=wd, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 1 and "out of date" in out.stderr
