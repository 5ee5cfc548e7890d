"""Outcome sources with roles, ids across folders, the RouteLLM importer, arena-score inputs (issue 14, item 1).

Synthetic files in tmp for the role and collision cases (hand-checked), the real dev slices of
../shared/data (skipped when absent) for the formats as published.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from routerlab.core.errors import ConfigError
from routerlab.kmodel import evaluate as ev
from routerlab.kmodel.config import resolve
from routerlab.kmodel.importers import read_source
from routerlab.kmodel.importers_roles import read_import, role_from_name
from routerlab.kmodel.outcomes import OutcomeFormatError, Outcomes, finish_outcomes, queries_frame, row_query_id

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["m-a", "m-b"]


def _routerdc_file(path: Path, items: list[tuple[str, tuple[float, float]]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"question": q, "scores": dict(zip(MODELS, s))} for q, s in items]))
    return path


def _questions(prefix: str, n: int) -> list[tuple[str, tuple[float, float]]]:
    return [(f"{prefix} question {i}?", (float(i % 2), float(i % 3 == 0))) for i in range(n)]


def _config(imports: dict, **kmodel) -> dict:
    return {"models": {}, "datasets": {}, "kmodel": {"pool": [], "imports": imports, **kmodel}}


def _read(cfg: dict, name: str) -> Outcomes:
    src = resolve(cfg)["sources"][name]
    return read_import(src["format"], src["reading"], on_missing=src["on_missing"], seed=42)


def _split_of(out: Outcomes) -> dict[str, str]:
    return dict(zip(out.queries["prompt"], out.queries["split"]))


# --- roles -----------------------------------------------------------------------------------------


def test_role_from_file_names():
    assert role_from_name("a/gsm8k-train.json") == "train" and role_from_name("mmlu_test.json") == "test"
    assert role_from_name("x/arc_dev.csv") == "validation" and role_from_name("y.val.jsonl") == "validation"
    assert role_from_name("mbpp.json") is None and role_from_name("contest.json") is None  # 'test' inside a word


def test_routerdc_train_and_test_files_become_the_splits(tmp_path):
    """RouterDC's *_train / *_test files (and its unmarked out-of-distribution files) are train and test,
    no longer one re-split dataset; 10 % of each dataset's train queries validate."""
    d = tmp_path / "split2_model7"
    _routerdc_file(d / "mmlu_train.json", _questions("train", 30))
    _routerdc_file(d / "mmlu_test.json", _questions("test", 7))
    _routerdc_file(d / "mbpp.json", _questions("ood", 4))
    out = _read(_config({"rdc": {"format": "routerdc", "paths": [str(d / "*.json")]}}), "rdc")
    split = _split_of(out)
    assert {split[f"test question {i}?"] for i in range(7)} == {"test"}
    assert {split[f"ood question {i}?"] for i in range(4)} == {"test"}
    train_side = [split[f"train question {i}?"] for i in range(30)]
    assert train_side.count("validation") == 3 and train_side.count("train") == 27  # int(0.1 * 30)
    assert out.meta["roles_from"] == "file names" and out.meta["validation_from_train"]["queries"] == 3
    assert set(out.queries["dataset"]) == {"mmlu", "mbpp"}
    # split: random keeps the old behaviour, RouterEval's 80/10/10 within each dataset:
    # mmlu 37 -> 29 / 4 / 4 (int(0.8 n), int(0.9 n)), mbpp 4 -> 3 / 0 / 1
    rand = _read(_config({"rdc": {"format": "routerdc", "paths": [str(d / "*.json")], "split": "random"}}), "rdc")
    assert rand.queries["split"].value_counts().to_dict() == {"train": 32, "validation": 4, "test": 5}


def test_train_on_dev_test_on_other_folder_from_config_alone(tmp_path):
    """Roles named in the config; same file names in both folders; a query in both roles leaves test."""
    dev = _routerdc_file(tmp_path / "dev" / "gsm8k.json", _questions("dev", 20))
    shared_item = _questions("dev", 1)  # row 0 of dev/gsm8k.json, read again from other/gsm8k.json row 0
    _routerdc_file(tmp_path / "other" / "gsm8k.json", shared_item + _questions("other", 10)[1:])
    cfg = _config({"rdc": {"format": "routerdc", "train": ["dev/*.json"], "test": ["other/*.json"],
                           "validation_fraction": 0}}, data_root=str(tmp_path))
    out = _read(cfg, "rdc")
    assert out.queries["split"].value_counts().to_dict() == {"train": 20, "test": 9}
    assert out.meta["overlap_removed"] == {"test": 1}  # never tested on a training query
    assert out.meta["roles"]["train"]["files"] == [str(dev)]
    assert row_query_id("gsm8k", 0, "dev question 0?") in set(out.queries["query_id"])


def test_role_config_errors(tmp_path):
    d = tmp_path / "d"
    _routerdc_file(d / "a_train.json", _questions("a", 3))
    _routerdc_file(d / "b_test.json", _questions("b", 3))
    cases = [
        ({"paths": [str(d / "*")], "train": [str(d / "a_train.json")]}, "give either paths"),
        ({"train": [str(d / "a_train.json")]}, "no test files"),
        ({"paths": [str(d / "a_train.json")], "split": "files"}, "no test files (roles from file names"),
        ({"train": [str(d / "*.json")], "test": [str(d / "b_test.json")]}, "is listed as train and as test"),
        ({"paths": [str(d / "*")], "questions": [str(d / "a_train.json")]}, "questions: only for format 'routellm'"),
        ({"train": [str(d / "a_train.json")], "test": [str(d / "b_test.json")], "split": "random"},
         "'random' re-splits"),
    ]
    for spec, message in cases:
        with pytest.raises(ConfigError) as e:
            resolve(_config({"rdc": {"format": "routerdc", **spec}}))
        assert "kmodel.imports.rdc" in str(e.value) and message in str(e.value), str(e.value)
    with pytest.raises(ConfigError, match=r"kmodel.data_root: '\$NO_SUCH_ROUTERLAB_VAR' names an unset"):
        resolve(_config({"rdc": {"format": "routerdc", "paths": ["x"]}}, data_root="$NO_SUCH_ROUTERLAB_VAR"))
    with pytest.raises(ConfigError, match=r"kmodel.imports.rdc.test: 'nowhere/\*.json' matches no file.*"
                       r"relative paths start at kmodel.data_root"):
        resolve(_config({"rdc": {"format": "routerdc", "train": ["d/*"], "test": ["nowhere/*.json"]}},
                        data_root=str(tmp_path)))


# --- ids and files across folders --------------------------------------------------------------------


def test_routerdc_same_file_name_in_two_folders(tmp_path):
    a = _routerdc_file(tmp_path / "a" / "mmlu_train.json", _questions("a", 4))
    b = _routerdc_file(tmp_path / "b" / "mmlu_train.json", _questions("b", 3))
    out = read_source("routerdc", [a, b])  # ids were 'mmlu_train:{row}': rows 0-2 clashed
    assert len(out.queries) == 7 and out.queries["query_id"].is_unique
    assert out.queries["query_id"].iloc[0] == row_query_id("mmlu_train", 0, "a question 0?")
    twice = read_source("routerdc", [a, _routerdc_file(tmp_path / "c" / "mmlu_train.json", _questions("a", 4))])
    assert len(twice.queries) == 4 and twice.meta["merged_repeats"] == 4  # the same items read twice
    conflict = _routerdc_file(tmp_path / "d" / "mmlu_train.json", [("a question 0?", (0.0, 0.0))])
    with pytest.raises(OutcomeFormatError) as e:
        read_source("routerdc", [a, conflict])
    assert f"{conflict}: row 0, field 'scores': item repeats {a} row 0" in str(e.value)


def _arena_line(gid: str, model: str, score: float, tokens: int = 10) -> str:
    return json.dumps({"global_index": gid, "question": f"q {gid}", "llm_selected": model,
                       "token_usage": {"input_tokens": 5, "output_tokens": tokens},
                       "evaluation_result": {"score": score, "inference_cost": 1e-4}})


def test_routerarena_model_rows_span_folders_and_true_duplicates_name_both_files(tmp_path):
    (tmp_path / "dev").mkdir()
    (tmp_path / "more").mkdir()
    a_dev = tmp_path / "dev" / "a.jsonl"
    a_dev.write_text("\n".join(_arena_line(f"MMLU_{i}", "a", 1.0) for i in range(3)) + "\n")
    a_more = tmp_path / "more" / "a.jsonl"
    a_more.write_text("\n".join(_arena_line(f"MMLU_{i}", "a", 0.0) for i in range(3, 5)) + "\n")
    b = tmp_path / "dev" / "b.jsonl"
    b.write_text("\n".join(_arena_line(f"MMLU_{i}", "b", 0.5) for i in range(5)) + "\n")
    out = read_source("routerarena", [a_dev, b, a_more])  # was: "model 'a' also in a.jsonl; one file per model"
    assert out.models == ["a", "b"] and len(out.queries) == 5
    np.testing.assert_array_equal(out.matrix("score")[:, 0], [1, 1, 1, 0, 0])
    dup = tmp_path / "more" / "a2.jsonl"
    dup.write_text(_arena_line("MMLU_9", "a", 1.0) + "\n" + _arena_line("MMLU_1", "a", 1.0) + "\n")
    with pytest.raises(OutcomeFormatError) as e:
        read_source("routerarena", [a_dev, b, dup])
    msg = str(e.value)
    assert msg.startswith(f"{dup}: line 2, field 'global_index'") and f"already read at {a_dev}: line 2" in msg


def test_routerbench_sample_in_two_folders_is_read_once_or_named(tmp_path):
    rb = ROOT / "tests" / "data" / "kmodel" / "routerbench_small.csv"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(rb, tmp_path / "a" / "x_train.csv")
    shutil.copy(rb, tmp_path / "b" / "x_train.csv")
    once = read_source("routerbench", [rb])
    both = read_source("routerbench", [tmp_path / "a" / "x_train.csv", tmp_path / "b" / "x_train.csv"])
    assert len(both.queries) == len(once.queries) == 8  # was: "sample_id ... appears in two files"
    df = pd.read_csv(rb, dtype=str, keep_default_na=False)
    df.loc[0, "big-70b"] = "0.0" if df.loc[0, "big-70b"] != "0.0" else "1.0"
    df.to_csv(tmp_path / "b" / "x_train.csv", index=False)
    with pytest.raises(OutcomeFormatError) as e:
        read_source("routerbench", [tmp_path / "a" / "x_train.csv", tmp_path / "b" / "x_train.csv"])
    assert f"{tmp_path / 'b' / 'x_train.csv'}: row 1, field 'sample_id'" in str(e.value)
    assert f"repeats {tmp_path / 'a' / 'x_train.csv'} row 1 with different scores" in str(e.value)


def test_long_files_per_model_with_a_split_column(tmp_path):
    rows = {m: pd.DataFrame({"query_id": ["q0", "q1", "q2"], "model": m, "score": [1.0, 0.0, 1.0],
                             "prompt_tokens": 1, "completion_tokens": 2, "cost": 0.1,
                             "prompt": ["a", "b", "c"], "fold": ["train", "dev", "test"]}) for m in MODELS}
    paths = []
    for m, df in rows.items():
        paths.append(tmp_path / f"{m}.csv")
        df.to_csv(paths[-1], index=False)
    out = read_source("long", paths, split_column="fold")
    assert out.models == MODELS and out.queries["split"].tolist() == ["train", "validation", "test"]
    cfg = _config({"lg": {"format": "long", "paths": [str(tmp_path / "*.csv")], "split_column": "fold"}})
    assert _read(cfg, "lg").queries["split"].tolist() == ["train", "validation", "test"]  # kept, not re-split
    rows["m-b"].iloc[[0, 2]].assign(model="m-a").to_csv(tmp_path / "extra.csv", index=False)
    with pytest.raises(OutcomeFormatError) as e:
        read_source("long", [*paths, tmp_path / "extra.csv"], split_column="fold")
    assert f"{tmp_path / 'extra.csv'}: row 1, field 'query_id': duplicate row" in str(e.value)
    assert f"first at {paths[0]} row 1" in str(e.value)
    bad = rows["m-a"].assign(fold=["train", "later", "test"])
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(OutcomeFormatError, match=r"bad\.csv: row 2, field 'fold': split 'later'"):
        read_source("long", [tmp_path / "bad.csv"], split_column="fold")


# --- RouteLLM ----------------------------------------------------------------------------------------

STRONG, WEAK = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"


def _routellm_files(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "routellm"
    (d / "mmlu").mkdir(parents=True)
    pd.DataFrame({"prompt": ["Q1?\nA. x\nAnswer:", "Q2?\nAnswer:", "Q3?\nAnswer:"], WEAK: [True, False, False],
                  STRONG: [True, True, False]}).to_csv(d / "mmlu" / "mmlu_virology.csv", index=False)
    questions = [{"question_id": 81, "category": "writing", "turns": ["Write a poem.", "Now shorter."]},
                 {"question_id": 82, "category": "math", "turns": ["What is 2+2?", "And 3+3?"]},
                 {"question_id": 83, "category": "coding", "turns": ["Sort a list.", "In C."]}]
    (d / "question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    scores = {(81, STRONG): (9, 10), (81, WEAK): (7, 8), (82, STRONG): (10, 10), (82, WEAK): (6, -1),
              (83, STRONG): (8, 9), (83, WEAK): (5, 4)}
    lines = [{"question_id": q, "model": m, "judge": ["gpt-4", "single-v1"], "score": s, "turn": t + 1}
             for (q, m), pair in scores.items() for t, s in enumerate(pair)]
    (d / "judgements.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (d / "contaminated_prompts.jsonl").write_text(
        json.dumps({"train_prompt": "t", "eval_prompt": "Q2?\nAnswer:", "train_idx": 1, "eval_idx": 2}) + "\n"
        + json.dumps({"train_prompt": "t", "eval_prompt": "In C.", "train_idx": 5, "eval_idx": 9}) + "\n")
    return {"csv": d / "mmlu" / "mmlu_virology.csv", "questions": d / "question.jsonl",
            "judgements": d / "judgements.jsonl", "exclude": d / "contaminated_prompts.jsonl"}


def test_routellm_responses_mt_bench_and_decontamination(tmp_path):
    f = _routellm_files(tmp_path)
    out = read_source("routellm", [f["csv"], f["judgements"]], questions=[f["questions"]])
    assert out.models == [STRONG, WEAK]
    q = out.queries.set_index("query_id")
    mt = q[q["dataset"] == "mt_bench"]
    assert list(mt.index) == ["mt_bench:81", "mt_bench:83"]  # 82: a failed judgement (-1) leaves no turn 2
    assert out.meta["files"]["mt_bench"]["failed_judgements"] == 1 and out.meta["dropped_missing"] == 1
    assert mt.loc["mt_bench:81", "prompt"] == "Write a poem." and mt.loc["mt_bench:83", "category"] == "coding"
    rows = [out.queries["query_id"].tolist().index(i) for i in ("mt_bench:81", "mt_bench:83")]
    np.testing.assert_allclose(out.matrix("score")[rows], [[9.5, 7.5], [8.5, 4.5]])  # mean of the two turns
    mmlu = q[q["dataset"] == "mmlu"]
    assert len(mmlu) == 3 and set(mmlu["category"]) == {"virology"}
    rows = [out.queries["query_id"].tolist().index(i) for i in mmlu.index]
    np.testing.assert_array_equal(out.matrix("score")[rows].sum(axis=0), [2, 1])  # GPT-4 2 of 3, Mixtral 1 of 3
    clean = read_source("routellm", [f["csv"], f["judgements"]], questions=[f["questions"]],
                        exclude_prompts=[f["exclude"]])
    assert clean.meta["decontamination"]["removed"] == {"mmlu": 1, "mt_bench": 1}  # Q2 and question 83 (turn 2)
    assert clean.meta["decontamination"]["removed_total"] == 2
    assert "Q2?\nAnswer:" not in set(clean.queries["prompt"]) and len(clean.queries) == 3


def test_routellm_errors_name_file_row_field(tmp_path):
    f = _routellm_files(tmp_path)
    df = pd.read_csv(f["csv"])
    df[STRONG] = df[STRONG].astype(object)
    df.loc[1, STRONG] = "maybe"
    df.to_csv(tmp_path / "mmlu_bad.csv", index=False)
    with pytest.raises(OutcomeFormatError, match=r"mmlu_bad\.csv: row 2, field 'gpt-4-1106-preview': expected True"):
        read_source("routellm", [tmp_path / "mmlu_bad.csv"])
    with pytest.raises(OutcomeFormatError, match="need the MT-bench questions"):
        read_source("routellm", [f["judgements"]])
    lines = f["judgements"].read_text().splitlines()
    (tmp_path / "j.jsonl").write_text("\n".join(lines + [lines[0].replace('"question_id": 81', '"question_id": 99')]))
    with pytest.raises(OutcomeFormatError) as e:
        read_source("routellm", [tmp_path / "j.jsonl"], questions=[f["questions"]])
    assert f"{tmp_path / 'j.jsonl'}: line {len(lines) + 1}, field 'question_id': question 99 is not" in str(e.value)
    (tmp_path / "j2.jsonl").write_text("\n".join(lines + [lines[2]]))
    with pytest.raises(OutcomeFormatError, match=rf"j2\.jsonl: line {len(lines) + 1}, field 'question_id': .* "
                       r"already judged at .*j2\.jsonl: line 3"):
        read_source("routellm", [tmp_path / "j2.jsonl"], questions=[f["questions"]])


@pytest.mark.shared_data
def test_routellm_dev_slices(shared_data, tmp_path):
    """The dev slices as published: GPT-4 and Mixtral accuracies recomputed from the CSVs by hand."""
    csvs = sorted((shared_data / "routellm_outcomes" / "mmlu" / "responses").glob("mmlu_*.csv"))
    out = read_source("routellm", csvs)
    raw = pd.concat([pd.read_csv(p) for p in csvs], ignore_index=True)
    assert len(out.queries) == len(raw) == 2000
    means = out.matrix("score").mean(axis=0)
    assert means.tolist() == pytest.approx([raw[STRONG].mean(), raw[WEAK].mean()])
    listed = raw["prompt"].iloc[[0, 5, 7]]
    (tmp_path / "contaminated_prompts.jsonl").write_text("".join(json.dumps({"eval_prompt": p}) + "\n" for p in listed))
    clean = read_source("routellm", csvs, exclude_prompts=[tmp_path / "contaminated_prompts.jsonl"])
    assert clean.meta["decontamination"]["removed_total"] == int(raw["prompt"].isin(listed).sum()) >= 3
    mt = read_source("routellm", [shared_data / "routellm_outcomes" / "mt_bench" / "judgements.jsonl"],
                     questions=[shared_data / "mt_bench" / "question.jsonl"])
    j = pd.read_json(shared_data / "routellm_outcomes" / "mt_bench" / "judgements.jsonl", lines=True)
    expected = j.groupby("model")["score"].mean()  # every dev question has both turns for both models
    assert len(mt.queries) == 10 and mt.matrix("score").mean(axis=0).tolist() == pytest.approx(
        [expected[STRONG], expected[WEAK]])


@pytest.mark.shared_data
def test_dev_routerdc_roles_from_its_file_names(shared_data):
    cfg = _config({"rdc": {"format": "routerdc", "paths": ["routerdc_outcomes/split2_model7/*.json"]}},
                  data_root=str(shared_data))
    out = _read(cfg, "rdc")
    # train files: gsm8k-train 1000, mmlu_train 20, arc_challenge_train 577, humaneval_train 23 items;
    # validation = int(0.1 n) of each: 100 + 2 + 57 + 2; test: mmlu 1976, arc 246, humaneval 9 + OOD 9 + 100
    assert out.queries["split"].value_counts().to_dict() == {"test": 2340, "train": 1459, "validation": 161}
    assert len(out.models) == 7 and out.queries["query_id"].is_unique
    assert out.meta["prompt_in_train"] == {"test": 12}  # RouterDC repeats 12 questions in train and test files


# --- arena score inputs (kmodel.evaluate) ------------------------------------------------------------


def _cost_source(scores: np.ndarray, seed: int = 0) -> ev.Source:
    n = scores.shape[0]
    ids = [f"q{i}" for i in range(n)]
    rng = np.random.default_rng(seed)
    t = pd.DataFrame({"query_id": np.repeat(ids, 2), "model": np.tile(["cheap", "pricey"], n),
                      "score": scores.reshape(-1), "prompt_tokens": np.nan, "completion_tokens": np.nan,
                      "cost": np.tile([1e-5, 1e-3], n)})
    split = np.array(["train"] * (n // 2) + ["validation"] * (n // 4) + ["test"] * (n - n // 2 - n // 4))
    q = queries_frame({"query_id": i, "dataset": "d", "category": "c", "prompt": i, "split": s}
                      for i, s in zip(ids, split))
    return ev.Source("s", finish_outcomes(t, q, {}, "synthetic"), rng.normal(size=(n, 3)))


def _route(src: ev.Source) -> dict:
    lambdas = [0.0, 0.5, 0.999, 1.0]
    r2, _, _ = ev.train_r2(src, {}, {"min_rows": 4}, lambdas)
    return ev.evaluate_cost(src, {}, r2, {}, lambdas)


def test_a_score_below_zero_no_longer_blanks_every_arena_score():
    rng = np.random.default_rng(1)
    Y = np.column_stack([(rng.random(80) < 0.4).astype(float), (rng.random(80) < 0.9).astype(float)])
    Y[70, 0] = -0.033  # a test query: RouterArena's NarrativeQA METEOR
    res = _route(_cost_source(Y))
    rows = {r["router"]: r for r in res["rows"]}
    assert all(r["arena_score"] is not None for r in res["rows"])  # was: None everywhere
    cheap = rows["cheap"]
    assert cheap["arena_clipped"] == 1 and rows["pricey"]["arena_clipped"] == 0
    te = Y[60:, 0]
    assert cheap["accuracy"] == pytest.approx(te.mean())  # the raw mean
    A = np.clip(te, 0, 1).mean()
    C = (np.log2(200) - np.log2(0.01)) / (np.log2(200) - np.log2(0.0044))  # 1e-5 $ x 1000 = 0.01 $/1k
    assert cheap["arena_score"] == pytest.approx(1.1 * A * C / (0.1 * A + C))
    assert any("1 of 40 test scores (query x model) are below 0 (min -0.033): clipped" in n for n in res["notes"])
    val = [r for r in res["rows"] if r["kind"] == "r2router*"]
    assert len(val) == 1 and res["lambda_chosen"]["val_arena_score"] is not None


def test_judge_ratings_get_no_arena_score_and_no_silent_lambda():
    rng = np.random.default_rng(2)
    Y = rng.integers(1, 11, size=(80, 2)).astype(float)  # MT-bench-like 1-10 ratings
    res = _route(_cost_source(Y))
    assert all(r["arena_score"] is None for r in res["rows"])
    assert res["lambda_chosen"] is None and not [r for r in res["rows"] if r["kind"] == "r2router*"]  # was: λ = 0
    assert any(n.startswith("arena score not computed:") and "exceed 1 (max 10)" in n for n in res["notes"])
    assert any(n.startswith("λ* not chosen: no arena score on validation") for n in res["notes"])


# --- the workflow: one import with roles, from config alone ------------------------------------------


def test_workflow_reads_roles_from_config(tmp_path):
    wd = tmp_path / "p"
    wd.mkdir()
    for name in ("Snakefile", "config", "workflow", "profiles", "envs"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, wd / name)
    _routerdc_file(wd / "dev" / "gsm8k-train.json", _questions("train", 20))
    _routerdc_file(wd / "other" / "gsm8k-test.json", _questions("test", 6))
    cfg = {"kmodel": {"pool": [], "imports": {"rdc": {"format": "routerdc", "train": ["dev/*.json"],
                                                      "test": ["other/*.json"]}}}}
    (wd / "c.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "results/kmodel/rdc/outcomes.parquet",
                           "--configfile", "c.yaml"], check=False, cwd=wd, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = Outcomes.load(wd / "results" / "kmodel" / "rdc")
    assert out.queries["split"].value_counts().to_dict() == {"train": 18, "test": 6, "validation": 2}
    assert out.meta["roles"]["test"]["files"] == ["other/gsm8k-test.json"]
    log = (wd / "logs" / "kmodel_outcomes" / "rdc.log").read_text()
    assert "validation carved from train" in log
