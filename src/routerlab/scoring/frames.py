"""Whole tables of generations scored: every generation against its dataset row, and the one
scored sample per query that labels and outcome tables use."""

from __future__ import annotations

import json
from typing import Any, Callable

import pandas as pd

from routerlab.scoring.result import JudgeRequired
from routerlab.scoring.rows import score_row


def scored_samples(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per id, indexed by id: sample 0, the answer that is scored and labelled.

    Whole rows, not ``groupby().first()``: that skips NaN column by column, so an unscored
    sample 0 would borrow sample 1's score while keeping its own status.
    """
    if "sample" in frame:
        frame = frame.sort_values("sample", kind="stable")
    return frame.drop_duplicates("id", keep="first").set_index("id")


def score_frame(data: pd.DataFrame, generations: pd.DataFrame, judge: Any = None,
                progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Score every generation against its dataset row: the task's verifier, or ``judge`` for every row.

    With a judge (``routerlab.lm.judge.Judge``) its verdicts replace the verifiers and the
    replies are kept in ``judge_reply``; open-ended rows without one fail, naming the fix.
    """
    rows = data.set_index("id")
    missing = sorted(set(generations["id"]) - set(rows.index))
    if missing:
        raise ValueError(f"generations for ids not in the dataset (first: {missing[:3]}); re-run `generate`")
    gens = list(generations.itertuples(index=False))
    cols = ["id", "sample", "score", "parsed", "status", "detail"]
    if judge is not None:
        items = [{"prompt": rows.loc[g.id, "prompt"], "response": g.response, "reference": rows.loc[g.id, "reference"]}
                 for g in gens]
        results, replies = judge.score(items, progress=progress)
        out = [{"id": g.id, "sample": g.sample, **res.as_dict(), "judge_reply": reply}
               for g, res, reply in zip(gens, results, replies)]
        return pd.DataFrame(out, columns=[*cols, "judge_reply"])
    out = []
    for g in gens:
        row = rows.loc[g.id]
        meta = row.get("meta")
        meta = json.loads(meta) if isinstance(meta, str) and meta else (meta or {})
        choices = row["choices"]
        try:
            res = score_row(row["task"], g.response, row["reference"], choices=list(choices) if choices is not None
                            else [], meta=meta, prompt=row["prompt"])
        except JudgeRequired:
            raise ValueError(f"row {g.id!r} has task {row['task']!r}, which only an LLM judge can score: add its "
                             "dataset to `judge.datasets` in the config (and set `judge.model`, e.g. "
                             "`method: graded`)") from None
        out.append({"id": g.id, "sample": g.sample, **res.as_dict()})
    return pd.DataFrame(out, columns=cols)
