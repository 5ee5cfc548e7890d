"""Real questions shipped in the package (datasets/_packaged.py): MMLU validation files."""

import hashlib
import re

import pytest

from routerlab.datasets import DatasetError, load_dataset
from routerlab.datasets._packaged import MMLU_CATEGORIES, MMLU_DIR, mmlu_rows


def test_shipped_files_match_their_provenance_and_licence():
    notice = (MMLU_DIR / "NOTICE.md").read_text()
    assert "785eba57b455b9f9be12a0d3c1106d67274fea0e" in notice and "hendrycks/test" in notice
    assert (MMLU_DIR / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c) 2020 Dan Hendrycks")
    listed = dict(re.findall(r"\| `([a-z_]+_val\.csv)` \| \d+ \| `([0-9a-f]{64})` \|", notice))
    files = sorted(MMLU_DIR.glob("*_val.csv"))
    assert len(files) == len(listed) == 57
    for f in files:
        assert hashlib.sha256(f.read_bytes()).hexdigest() == listed[f.name], f.name


def test_categories_partition_the_subjects_and_rows_parse():
    subjects = sorted(f.name.removesuffix("_val.csv") for f in MMLU_DIR.glob("*_val.csv"))
    assert sorted(s for c in MMLU_CATEGORIES.values() for s in c) == subjects
    rows = mmlu_rows("mmlu")
    assert len(rows) == 1542 and len({r["id"] for r in rows}) == 1542
    assert sum(len(mmlu_rows("m", c)) for c in MMLU_CATEGORIES) == 1542
    first = rows[0]  # abstract_algebra_val.csv, record 1
    assert first["id"] == "mmlu-abstract_algebra-0" and first["reference"] == "A"
    assert first["choices"] == ["4", "8", "12", "6"] and first["prompt"].startswith("The cyclic subgroup of Z_24")


def test_builtin_source_gives_a_seeded_subset():
    spec = {"source": "builtin", "generator": "mmlu_stem", "n": 120, "seed": 3}
    a, b = load_dataset("stem", spec), load_dataset("stem", spec)
    assert len(a) == 120 and a["id"].tolist() == b["id"].tolist()
    assert set(a["task"]) == {"mc"} and a["reference"].isin(list("ABCD")).all()
    assert a["id"].tolist() != load_dataset("stem", {**spec, "seed": 4})["id"].tolist()
    with pytest.raises(DatasetError, match="ships 328 MMLU validation questions in category 'stem'"):
        load_dataset("stem", {**spec, "n": 329})
