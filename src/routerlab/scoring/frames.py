"""Whole tables of generations scored: every generation against its dataset row, and the one
scored sample per query that labels and outcome tables use."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd

from routerlab.scoring.result import JudgeRequired
from routerlab.scoring.rows import score_row


def require_rows(expected_ids: Any, got_ids: Any, expected_from: str, got_from: str, fix: str) -> None:
    """Fail when a stage's input holds fewer rows than the file it derives from promises.

    ``expected_ids`` are the ids of ``expected_from`` (e.g. the dataset), ``got_ids`` those of
    ``got_from`` (e.g. a model's scores); every expected id must be there. Both files are
    named, with the count and the first missing ids, so a truncated or stale table never
    passes on as "unusable rows".
    """
    expected = pd.Index(pd.Series(expected_ids, dtype=object).astype(str).unique())
    got = set(pd.Series(got_ids, dtype=object).astype(str))
    missing = [i for i in expected if i not in got]
    if missing:
        raise ValueError(f"{got_from} holds {len(expected) - len(missing)} of the {len(expected)} ids of "
                         f"{expected_from} ({len(missing)} missing, first: {missing[:3]}); {fix}")


def unparsed_share(scores: pd.DataFrame) -> float:
    """Share of rows the scorer could not decide (NaN score: a judge reply without a verdict, a verifier error)."""
    return float(scores["score"].isna().mean()) if len(scores) else 0.0


def check_unparsed(scores: pd.DataFrame, max_share: float, where: str) -> float:
    """Fail when more than ``max_share`` of the replies have no verdict: such a run is not a measurement."""
    share = unparsed_share(scores)
    if share > max_share:
        statuses = scores.loc[scores["score"].isna(), "status"].value_counts().to_dict()
        example = ""
        if "judge_reply" in scores:
            reply = scores.loc[scores["score"].isna(), "judge_reply"].iloc[0]
            example = f"; first such reply: {str(reply)[:120]!r}"
        raise ValueError(f"{where}: {share:.0%} of {len(scores)} scores have no verdict ({statuses}), above "
                         f"judge.max_unparsed_share = {max_share:g}{example}; check the judge model, its prompt "
                         "method and max_new_tokens (a cut reply has no verdict), or raise the threshold")
    return share


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
