"""Long outcome tables: one row per (query, model) with its score, token counts and cost.

Schema (``OUTCOMES_VERSION``), written as ``outcomes.parquet`` + ``queries.parquet``:

outcomes: ``query_id`` str, ``model`` str, ``score`` float (finite), ``prompt_tokens`` and
``completion_tokens`` float (>= 0; NaN = unknown), ``cost`` float (USD for this query; >= 0;
NaN = unknown); optional ``budget`` float (output-token budget of the candidate; NaN = none),
``base_model`` str (the LLM behind a candidate when one LLM is offered at several budgets, e.g.
models ``qwen@256`` and ``qwen@1024`` with base_model ``qwen``; default: the model itself) and
``pool`` str (a predefined RouterEval pool such as ``easy/3/all_strong``).

queries: ``query_id`` (unique), ``dataset`` (sub-benchmark), ``category`` (R2-Router's
query category), ``prompt``, ``split`` (train / validation / test, or None = not yet split).

Every query has a row for every model of its pool: the K-model metrics need the full
score matrix. Builders: :func:`from_pipeline` (our generate + score stages) here, and the
importers of published formats in :mod:`routerlab.kmodel.importers`.

Malformed input raises :class:`OutcomeFormatError` naming the file, the row and the field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from routerlab.core.io import read_frame, read_frame_meta, write_frame
from routerlab.kmodel.cost import query_cost
from routerlab.scoring.frames import scored_samples

OUTCOMES_VERSION = 1
OUTCOME_COLUMNS = ("query_id", "model", "score", "prompt_tokens", "completion_tokens", "cost")
OPTIONAL_COLUMNS = ("budget", "base_model", "pool")
QUERY_COLUMNS = ("query_id", "dataset", "category", "prompt", "split")
SPLITS = ("train", "validation", "test")


class OutcomeFormatError(ValueError):
    """A malformed outcome file; the message names the file, the row and the field."""

    def __init__(self, path: str | Path, problem: str, *, row: Any = None, field: str | None = None):
        where = str(path)
        if row is not None:
            where += f": {row}" if isinstance(row, str) else f": row {row}"  # JSONL rows are "line N"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {problem}")
        self.path, self.row, self.field, self.problem = str(path), row, field, problem


@dataclass
class Outcomes:
    """A long outcome table and its queries (see the module docstring for the schema)."""

    table: pd.DataFrame
    queries: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        return sorted(self.table["model"].unique())

    @property
    def pools(self) -> list[str]:
        return sorted(self.table["pool"].unique()) if "pool" in self.table else []

    def matrix(self, column: str = "score", *, models: Sequence[str] | None = None, pool: str | None = None,
               queries: Sequence[str] | None = None) -> np.ndarray:
        """``column`` as an [n_queries, n_models] array; rows in ``queries`` (default: queries-table) order."""
        t = self.table if pool is None else self.table[self.table["pool"] == pool]
        models = list(models) if models is not None else sorted(t["model"].unique())
        qids = list(queries) if queries is not None else self.queries["query_id"].tolist()
        t = t[t["model"].isin(models) & t["query_id"].isin(qids)]
        qi = pd.Categorical(t["query_id"], categories=qids).codes
        mi = pd.Categorical(t["model"], categories=models).codes
        out = np.full((len(qids), len(models)), np.nan)
        out[qi, mi] = t[column].to_numpy(float)
        return out

    def save(self, out_dir: str | Path) -> None:
        meta = {"version": OUTCOMES_VERSION, **self.meta}
        write_frame(Path(out_dir) / "queries.parquet", self.queries, meta=meta)
        write_frame(Path(out_dir) / "outcomes.parquet", self.table, meta=meta)

    @classmethod
    def load(cls, out_dir: str | Path) -> Outcomes:
        path = Path(out_dir) / "outcomes.parquet"
        meta = read_frame_meta(path)
        if meta.get("version") != OUTCOMES_VERSION:
            raise ValueError(f"{path}: outcome table version {meta.get('version')}, expected {OUTCOMES_VERSION}; "
                             "re-run the kmodel_outcomes rule")
        return cls(read_frame(path), read_frame(Path(out_dir) / "queries.parquet"), meta)


def jsonl_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of every non-blank line of a JSONL file; malformed lines name the file and line."""
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise OutcomeFormatError(path, f"not valid JSON ({e.msg})", row=f"line {line_no}") from None
            if not isinstance(obj, dict):
                raise OutcomeFormatError(path, f"expected an object, got {type(obj).__name__}", row=f"line {line_no}")
            yield line_no, obj


# --- validation -----------------------------------------------------------------------------


def first_bad(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def validate(out: Outcomes, where: str | Path = "outcome table") -> Outcomes:
    """Check the schema; the first violation raises :class:`OutcomeFormatError` (file, row, field).

    Rows are numbered from 1 in table order (for a long-format file: its data rows).
    """
    label = lambda i: i + 1
    t, q = out.table, out.queries
    for name, frame, cols in (("outcomes", t, OUTCOME_COLUMNS), ("queries", q, QUERY_COLUMNS[:1])):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise OutcomeFormatError(where, f"{name} table lacks column(s) {missing}; expected {list(cols)}",
                                     field=missing[0])
    for col in ("query_id", "model"):
        s = t[col]
        bad = first_bad((s.isna() | (s.astype(str).str.strip() == "")).to_numpy())
        if bad is not None:
            raise OutcomeFormatError(where, "empty value", row=label(bad), field=col)
    for col, allow_nan in (("score", False), ("prompt_tokens", True), ("completion_tokens", True), ("cost", True),
                           ("budget", True)):
        if col not in t:
            continue
        v = pd.to_numeric(t[col], errors="coerce").to_numpy(float)
        raw_nan = t[col].isna().to_numpy()
        bad = first_bad(np.isnan(v) & ~raw_nan)
        if bad is not None:
            raise OutcomeFormatError(where, f"not a number: {t[col].iloc[bad]!r}", row=label(bad), field=col)
        if not allow_nan:
            bad = first_bad(~np.isfinite(v))
            if bad is not None:
                raise OutcomeFormatError(where, f"missing or non-finite score {t[col].iloc[bad]!r}", row=label(bad),
                                         field=col)
        elif col != "score":
            bad = first_bad(np.isinf(v) | (v < 0))
            if bad is not None:
                raise OutcomeFormatError(where, f"must be >= 0 (or empty when unknown), got {v[bad]!r}",
                                         row=label(bad), field=col)
    keys = ["pool", "query_id", "model"] if "pool" in t else ["query_id", "model"]
    dup = t.duplicated(keys, keep="first").to_numpy()
    bad = first_bad(dup)
    if bad is not None:
        raise OutcomeFormatError(where, f"duplicate row for {dict(t[keys].iloc[bad])}", row=label(bad),
                                 field="query_id")
    qdup = first_bad(q["query_id"].duplicated().to_numpy())
    if qdup is not None:
        raise OutcomeFormatError(where, f"query {q['query_id'].iloc[qdup]!r} listed twice in the queries table",
                                 field="query_id")
    unknown = sorted(set(t["query_id"]) - set(q["query_id"]))
    if unknown:
        raise OutcomeFormatError(where, f"{len(unknown)} outcome rows name queries missing from the queries table "
                                 f"(first: {unknown[:3]})", field="query_id")
    if "split" in q:
        bad_split = ~q["split"].isna() & ~q["split"].isin(SPLITS)
        b = first_bad(bad_split.to_numpy())
        if b is not None:
            raise OutcomeFormatError(where, f"split {q['split'].iloc[b]!r} is not one of {list(SPLITS)}",
                                     field="split")
    groups = t.groupby("pool") if "pool" in t else [(None, t)]
    for pool, g in groups:
        n_models = g["model"].nunique()
        per_query = g.groupby("query_id").size()
        short = per_query[per_query < n_models]
        if len(short):
            have = set(g.loc[g["query_id"] == short.index[0], "model"])
            lacking = sorted(set(g["model"]) - have)
            raise OutcomeFormatError(
                where, f"{len(short)} queries{'' if pool is None else f' of pool {pool!r}'} lack scores for some "
                f"models (first: query {short.index[0]!r} has no row for {lacking[:5]}); every query needs a row "
                "for every model", field="model")
    return out


def drop_incomplete(table: pd.DataFrame, n_models: int, on_missing: str, where: str | Path
                    ) -> tuple[pd.DataFrame, int]:
    """Drop (and count) queries lacking a score for some model; ``on_missing="error"`` raises instead."""
    ok = table.dropna(subset=["score"])
    counts = ok.groupby("query_id")["model"].nunique()
    incomplete = set(table["query_id"]) - set(counts[counts == n_models].index)
    if incomplete and on_missing == "error":
        first = min(incomplete)
        raise OutcomeFormatError(where, f"{len(incomplete)} queries lack a score for some model (first: {first!r}); "
                                 "set on_missing: drop to skip them", field="score")
    return table[~table["query_id"].isin(incomplete)], len(incomplete)


def row_query_id(stem: str, row: int, text: str) -> str:
    """``{file stem}:{row}:{8 hex of sha256(text)}``: the id of a query read from row ``row`` of a file.

    Stable (it does not depend on the folder, the file order or the other files of a source)
    and unique across folders: the same file name in two folders gives the same id only for
    the same row with the same text, which is then the same query (merged when its scores
    agree, an error naming both files when they differ).
    """
    return f"{stem}:{row}:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"


def queries_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    q = pd.DataFrame(list(rows), columns=list(QUERY_COLUMNS))
    q["split"] = q["split"].astype(object).where(q["split"].notna(), None)
    return q


def finish_outcomes(table: pd.DataFrame, queries: pd.DataFrame, meta: dict[str, Any], where: str) -> Outcomes:
    for col in ("prompt_tokens", "completion_tokens", "cost"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    table["score"] = table["score"].astype(float)
    table = table.sort_values(["query_id", "model"], kind="stable") if "pool" not in table else table
    return validate(Outcomes(table.reset_index(drop=True), queries.reset_index(drop=True), meta), where)


# --- our own pipeline -------------------------------------------------------------------------


def check_on_missing(on_missing: str) -> None:
    if on_missing not in ("drop", "error"):
        raise ValueError(f"on_missing must be 'drop' or 'error', got {on_missing!r}")


def from_pipeline(data: Mapping[str, str | Path], scores: Mapping[tuple[str, str], str | Path],
                  generations: Mapping[tuple[str, str], str | Path], prices: Mapping[str, Any],
                  *, on_missing: str = "drop") -> Outcomes:
    """Outcome table of our generate + score stages.

    ``data``: dataset -> results/data/{dataset}.parquet; ``scores``/``generations``:
    (model, dataset) -> results/scores|generations/{model}/{dataset}.parquet. Sample 0 is
    the scored answer (as for the binary labels). Cost = prompt/completion tokens x the
    model's price (USD per 1M tokens; an unpriced model is an error, never $0).
    Queries whose score could not be parsed (NaN) in any model are dropped and counted.
    """

    check_on_missing(on_missing)
    models = sorted({m for m, _ in scores})
    frames, qrows, dropped = [], [], {}
    for dataset, dpath in data.items():
        d = read_frame(dpath)
        per_model = []
        for model in models:
            s = scored_samples(read_frame(scores[(model, dataset)]))
            g = scored_samples(read_frame(generations[(model, dataset)]))
            missing = sorted(set(d["id"]) - set(s.index))
            if missing:
                raise OutcomeFormatError(scores[(model, dataset)], f"no score for {len(missing)} queries of the "
                                         f"dataset (first: {missing[:3]}); re-run the score rule", field="id")
            pt = d["id"].map(g["prompt_tokens"]).to_numpy(float)
            ct = d["id"].map(g["response_tokens"]).to_numpy(float)
            per_model.append(pd.DataFrame({
                "query_id": d["id"].astype(str).to_numpy(), "model": model,
                "score": d["id"].map(s["score"]).to_numpy(float), "prompt_tokens": pt, "completion_tokens": ct,
                "cost": query_cost(np.nan_to_num(pt), np.nan_to_num(ct), model, prices)}))
        block = pd.concat(per_model, ignore_index=True)
        bad = block.loc[block["score"].isna(), "query_id"].unique()
        if len(bad):
            if on_missing == "error":
                raise OutcomeFormatError(scores[(models[0], dataset)], f"{len(bad)} queries have no parsable score "
                                         f"(first: {list(bad[:3])})", field="score")
            dropped[dataset] = len(bad)
            block = block[~block["query_id"].isin(bad)]
        frames.append(block)
        keep = d[~d["id"].isin(bad)]
        qrows += [{"query_id": str(r.id), "dataset": dataset, "category": dataset, "prompt": r.prompt, "split": None}
                  for r in keep.itertuples(index=False)]
    meta = {"format": "pipeline", "models": models, "datasets": list(data), "dropped_unparsed": dropped}
    return finish_outcomes(pd.concat(frames, ignore_index=True), queries_frame(qrows), meta, "pipeline score tables")
