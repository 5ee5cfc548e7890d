"""Real questions shipped inside the package, served as builtin sources.

``data/mmlu/`` holds MMLU's 57 per-subject validation files (hendrycks/test@785eba57b455
``data/val/*.csv``, byte for byte; MIT, ``data/mmlu/LICENSE``; provenance and sha256 in
``data/mmlu/NOTICE.md``). The generators ``mmlu`` (every subject) and ``mmlu_<category>`` (one
of MMLU's four subject categories) return a seeded subset of ``n`` questions; the subset depends
only on each question's id and the seed (``_core.shuffled_order``), so it is the same on every
machine. Unlike the synthetic generators, ``n`` is capped by the questions shipped.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ._core import LETTERS, DatasetError, shuffled_order

MMLU_DIR = Path(__file__).parent / "data" / "mmlu"

# MMLU's own subject categories (hendrycks/test categories.py: subcategory -> category).
MMLU_CATEGORIES: dict[str, tuple[str, ...]] = {
    "stem": ("abstract_algebra", "astronomy", "college_biology", "college_chemistry", "college_computer_science",
             "college_mathematics", "college_physics", "computer_security", "conceptual_physics",
             "electrical_engineering", "elementary_mathematics", "high_school_biology", "high_school_chemistry",
             "high_school_computer_science", "high_school_mathematics", "high_school_physics",
             "high_school_statistics", "machine_learning"),
    "humanities": ("formal_logic", "high_school_european_history", "high_school_us_history",
                   "high_school_world_history", "international_law", "jurisprudence", "logical_fallacies",
                   "moral_disputes", "moral_scenarios", "philosophy", "prehistory", "professional_law",
                   "world_religions"),
    "social_sciences": ("econometrics", "high_school_geography", "high_school_government_and_politics",
                        "high_school_macroeconomics", "high_school_microeconomics", "high_school_psychology",
                        "human_sexuality", "professional_psychology", "public_relations", "security_studies",
                        "sociology", "us_foreign_policy"),
    "other": ("anatomy", "business_ethics", "clinical_knowledge", "college_medicine", "global_facts", "human_aging",
              "management", "marketing", "medical_genetics", "miscellaneous", "nutrition", "professional_accounting",
              "professional_medicine", "virology"),
}
SUBJECT_CATEGORY = {s: c for c, subjects in MMLU_CATEGORIES.items() for s in subjects}


def mmlu_rows(name: str, category: str | None = None) -> list[dict]:
    """Every shipped MMLU validation question (of ``category``), in file order, subjects sorted."""
    files = sorted(MMLU_DIR.glob("*_val.csv"))
    if not files:
        raise DatasetError(f"dataset {name!r}: no MMLU files in {MMLU_DIR}; reinstall routerlab (package data)")
    rows = []
    for f in files:
        subject = f.name.removesuffix("_val.csv")
        if category is not None and SUBJECT_CATEGORY.get(subject) != category:
            continue
        with open(f, newline="", encoding="utf-8") as fh:
            for idx, rec in enumerate(csv.reader(fh)):
                if len(rec) != 6 or rec[5].strip() not in LETTERS[:4]:
                    raise DatasetError(f"{f}: record {idx + 1} is not question,A,B,C,D,answer-letter: {rec[:1]}")
                rows.append({"id": f"{name}-{subject}-{idx}", "prompt": rec[0], "task": "mc",
                             "reference": rec[5].strip(), "choices": rec[1:5],
                             "meta": {"subject": subject, "category": SUBJECT_CATEGORY.get(subject, ""),
                                      "generator": "mmlu" if category is None else f"mmlu_{category}"}})
    return rows


def gen_mmlu(name: str, n: int, seed: int, category: str | None = None) -> list[dict]:
    rows = mmlu_rows(name, category)
    if n > len(rows):
        raise DatasetError(f"dataset {name!r}: n={n} but the package ships {len(rows)} MMLU validation questions"
                           f"{'' if category is None else f' in category {category!r}'}; lower `n`")
    keep = sorted(shuffled_order([r["id"] for r in rows], seed)[:n])  # seeded subset, file order kept
    return [rows[i] for i in keep]


MMLU_GENERATORS: dict[str, Callable[[str, int, int], list[dict]]] = {
    "mmlu": gen_mmlu,
    **{f"mmlu_{c}": partial(gen_mmlu, category=c) for c in MMLU_CATEGORIES},
}
