"""Glue between workflow rules and the package: logging, shards, labels, routing inputs.

Scripts in workflow/scripts call these so each script reads like one function call, and
the same steps can be run from Python without Snakemake.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger("routerlab")

LABELS_VERSION = 1


def setup_logging(log_file: str | Path | None) -> logging.Logger:
    """Log to the rule's log file (and stderr when run by hand)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(log_file, mode="w")]
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    return log


def progress_logger(what: str, every_s: float = 10.0) -> Callable[[int, int], None]:
    """A progress callback that logs count, rate and ETA at most every ``every_s`` seconds."""
    start = time.perf_counter()
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.perf_counter() - start
        if done == total or now - last[0] >= every_s:
            last[0] = now
            rate = done / now if now > 0 else float("nan")
            eta = (total - done) / rate if rate and rate > 0 else float("nan")
            log.info("%s: %d/%d (%.1f%%) %.2f/s, eta %.0fs", what, done, total, 100 * done / max(total, 1), rate, eta)

    return report


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(n)))


def shard_rows(df: pd.DataFrame, shard: int, n_shards: int) -> pd.DataFrame:
    """Contiguous block ``shard`` of ``n_shards`` near-equal blocks, so that concatenating the
    shards in shard order restores dataset order (the feature files keep row order = ids)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} out of range for {n_shards} shards")
    size, extra = divmod(len(df), n_shards)
    start = shard * size + min(shard, extra)
    return df.iloc[start:start + size + (shard < extra)]


def gather_tables(paths: Sequence[str | Path], order: Sequence[str] | None = None) -> pd.DataFrame:
    from routerlab.io import read_table

    df = pd.concat([read_table(p) for p in paths], ignore_index=True)
    if order is not None:
        rank = {k: i for i, k in enumerate(order)}
        df = df.iloc[np.argsort(df["id"].map(rank).to_numpy(), kind="stable")]
    return df.reset_index(drop=True)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.to_dict("records")
    for r in out:
        if "choices" in r and r["choices"] is not None:
            r["choices"] = list(r["choices"])
    return out


def labels_frame(data: pd.DataFrame, weak: pd.DataFrame, strong: pd.DataFrame) -> pd.DataFrame:
    """One row per query: split, weak/strong scores and the router label.

    label = weak correctness for verifiable tasks; 1[weak >= strong] for judge-scored
    open-ended tasks (docs/metrics.md §1.1). Rows whose score could not be parsed keep
    ``usable = False``: excluded from training and metrics, and counted.
    """
    from routerlab.io import scored_samples

    w, s = scored_samples(weak), scored_samples(strong)
    df = data[["id", "split", "task"]].copy()
    df["weak_score"] = df["id"].map(w["score"]).astype(float)
    df["strong_score"] = df["id"].map(s["score"]).astype(float)
    df["weak_status"] = df["id"].map(w["status"]).fillna("missing")
    df["strong_status"] = df["id"].map(s["status"]).fillna("missing")
    judged = df["task"].eq("open")
    df["judge_scored"] = judged
    df["label"] = np.where(judged, (df["weak_score"] >= df["strong_score"]).astype(float), df["weak_score"])
    df["usable"] = df["weak_score"].notna() & df["strong_score"].notna()
    df.loc[~df["usable"], "label"] = np.nan
    return df.reset_index(drop=True)


def load_routing_data(label_paths: Sequence[str], feature_dirs: Sequence[str] | None,
                      embedding_dirs: Sequence[str] | None, splits: Sequence[str], *,
                      cluster_paths: Sequence[str] | None = None, self_check_paths: Sequence[str] | None = None,
                      dataset_paths: Sequence[str] | None = None):
    """Rows of ``splits`` from several datasets, with every available feature aligned by id.

    Optional per-dataset inputs of the self-based and text routers: semantic clusters of
    sampled answers, self-check tables, and the dataset itself (for the query text).
    """
    from routerlab.features import FeatureSet
    from routerlab.io import read_table
    from routerlab.routers import RoutingData

    frames, logits, means, lasts, embs = [], [], [], [], []
    samples, checks, texts = [], [], []
    uncertain = ("only the rows of `uncertainty.splits` are sampled and self-checked: "
                 f"add {list(splits)} there, or re-run the rule if the dataset changed")
    sources: dict[str, str] = {}
    for i, lp in enumerate(label_paths):
        lab = read_table(lp)
        lab = lab[lab["split"].isin(splits)].reset_index(drop=True)
        lab["dataset"] = Path(lp).stem
        frames.append(lab)
        if feature_dirs:
            fs = FeatureSet(feature_dirs[i])
            idx = _positions(fs.ids, lab["id"], feature_dirs[i])
            logits.append(fs.logits.iloc[idx].reset_index(drop=True))
            means.append(np.asarray(fs.array("hidden_mean")[idx]))
            lasts.append(np.asarray(fs.array("hidden_last")[idx]))
            sources["features"] = str(feature_dirs[i])
        if embedding_dirs:
            ids = read_table(Path(embedding_dirs[i]) / "index.parquet")["id"].astype(str).tolist()
            arr = np.load(Path(embedding_dirs[i]) / "embeddings.npy", mmap_mode="r")
            embs.append(np.asarray(arr[_positions(ids, lab["id"], embedding_dirs[i])]))
            sources["embeddings"] = str(embedding_dirs[i])
        if cluster_paths:
            cl = read_table(cluster_paths[i]).sort_values(["id", "sample"], kind="stable")
            per_query = cl.groupby("id", sort=False).agg(clusters=("cluster", list),
                                                          mean_logprobs=("mean_logprob", list))
            idx = _positions(per_query.index.astype(str), lab["id"], cluster_paths[i], what="samples", fix=uncertain)
            samples.append(per_query.iloc[idx].reset_index(drop=True))
            sources["samples"] = str(cluster_paths[i])
        if self_check_paths:
            sc = read_table(self_check_paths[i])
            idx = _positions(sc["id"].astype(str), lab["id"], self_check_paths[i], what="self-checks", fix=uncertain)
            checks.append(sc.iloc[idx].reset_index(drop=True))
            sources["self_check"] = str(self_check_paths[i])
        if dataset_paths:
            from routerlab.encoder import query_text

            ds = read_table(dataset_paths[i])
            idx = _positions(ds["id"].astype(str), lab["id"], dataset_paths[i], what="dataset rows",
                             fix="the labels are older than the dataset: re-run the workflow")
            texts.extend(query_text(r) for r in records(ds.iloc[idx]))
            sources["texts"] = str(dataset_paths[i])
    labels = pd.concat(frames, ignore_index=True)
    data = RoutingData(
        ids=labels["id"].astype(str).tolist(),
        logits=pd.concat(logits, ignore_index=True) if logits else None,
        hidden_mean=np.concatenate(means) if means else None,
        hidden_last=np.concatenate(lasts) if lasts else None,
        embeddings=np.concatenate(embs) if embs else None,
        samples=pd.concat(samples, ignore_index=True) if samples else None,
        self_check=pd.concat(checks, ignore_index=True) if checks else None,
        texts=texts if dataset_paths else None,
        source=sources,
    )
    return data, labels


def _positions(index_ids: Sequence[str], wanted: pd.Series, where: str, what: str = "features",
               fix: str = "the features are older than the dataset: re-run the `features` rule") -> np.ndarray:
    pos = {k: i for i, k in enumerate(index_ids)}
    missing = [k for k in wanted if k not in pos]
    if missing:
        raise ValueError(f"{where}: no {what} for {len(missing)} ids (first: {missing[:3]}); {fix}")
    return np.array([pos[k] for k in wanted], dtype=int)


def _resampled_aurocs(y: np.ndarray, scores: Sequence[np.ndarray], n_boot: int, seed: int) -> np.ndarray:
    """AUROC of every score vector on the same query resamples: shape (resamples kept, len(scores)).

    Vectorised: every resample's AUROC is the Mann-Whitney statistic with average ranks for
    ties (= ``roc_auc_score``), computed in blocks of resamples to bound memory; resamples
    with one class are skipped.
    """
    from scipy.stats import rankdata

    n = len(y)
    rng = np.random.default_rng(seed)
    block = max(1, 10_000_000 // n)
    vals = []
    for start in range(0, n_boot, block):
        idx = rng.integers(0, n, (min(block, n_boot - start), n))
        ys = y[idx]
        pos = ys.sum(axis=1)
        neg = n - pos
        ok = (pos > 0) & (neg > 0)
        cols = []
        for r in scores:
            ranks = rankdata(r[idx[ok]], axis=1)
            cols.append(((ranks * ys[ok]).sum(axis=1) - pos[ok] * (pos[ok] + 1) / 2) / (pos[ok] * neg[ok]))
        vals.append(np.column_stack(cols))
    return np.concatenate(vals)


def bootstrap_auroc(y: np.ndarray, r: np.ndarray, n_boot: int, seed: int = 0) -> tuple[float, float]:
    """Percentile 95 % interval of AUROC over query resamples (resamples with one class skipped)."""
    y = np.asarray(y, dtype=float)
    r = np.asarray(r, dtype=float)
    if n_boot <= 0 or len(np.unique(y)) < 2:
        return float("nan"), float("nan")
    vals = _resampled_aurocs(y, [r], n_boot, seed)[:, 0]
    if not len(vals):
        return float("nan"), float("nan")
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def paired_bootstrap_auroc(y: np.ndarray, r_a: np.ndarray, r_b: np.ndarray, n_boot: int,
                           seed: int = 0) -> tuple[float, float, float]:
    """AUROC(a) - AUROC(b) on the same queries, with the percentile 95 % interval of that
    difference over paired query resamples (both routers scored on each resample).

    Pairing removes the variance the two routers share (the same hard queries), so the
    interval is much narrower than two separate ones: a > b at 95 % when its lower end > 0.
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=float)
    r_a, r_b = np.asarray(r_a, dtype=float), np.asarray(r_b, dtype=float)
    if not (len(y) == len(r_a) == len(r_b)):
        raise ValueError(f"paired AUROC needs equal lengths, got y {len(y)}, a {len(r_a)}, b {len(r_b)}")
    if len(np.unique(y)) < 2:
        return float("nan"), float("nan"), float("nan")
    diff = float(roc_auc_score(y, r_a) - roc_auc_score(y, r_b))
    vals = _resampled_aurocs(y, [r_a, r_b], n_boot, seed) if n_boot > 0 else np.empty((0, 2))
    if not len(vals):
        return diff, float("nan"), float("nan")
    lo, hi = np.percentile(vals[:, 0] - vals[:, 1], [2.5, 97.5])
    return diff, float(lo), float(hi)


def score_frame(data: pd.DataFrame, generations: pd.DataFrame, judge: Any = None,
                progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Score every generation against its dataset row: the task's verifier, or ``judge`` for every row.

    With a judge (``routerlab.judge.Judge``) its verdicts replace the verifiers and the
    replies are kept in ``judge_reply``; open-ended rows without one fail, naming the fix.
    """
    import json

    from routerlab.scoring import JudgeRequired, score_row

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


def evaluate_predictions(df: pd.DataFrame, evaluation: dict[str, Any], recall_targets: Sequence[float],
                         budgets: Sequence[float]) -> tuple[dict, dict, pd.DataFrame]:
    """Operating points chosen on validation and reported on test, and the test metrics.

    Rows whose scores could not be parsed (``usable`` False) are excluded and counted.
    """
    from routerlab.metrics import OperatingPointPolicy, binary_report, performance_curve

    judged = bool(df["judge_scored"].all())
    usable = df[df["usable"]]
    val, test = usable[usable["split"] == "validation"], usable[usable["split"] == "test"]
    cols = ("weak_score", "strong_score", "router_score")
    policy = OperatingPointPolicy(recall_targets=tuple(recall_targets), budgets=tuple(budgets), judge_scored=judged)
    policy.fit(*(val[c].to_numpy(float) for c in cols))
    points = policy.apply(*(test[c].to_numpy(float) for c in cols))
    thresholds = {"policy": policy.to_dict(), "test": points, "n_validation": len(val), "n_test": len(test)}

    w, s, r = (test[c].to_numpy(float) for c in cols)
    ev = evaluation
    metrics = binary_report(w, s, r, judge_scored=judged, lpm_band=tuple(ev["lpm_band"]),
                            recovery_band=tuple(ev["recovery_band"]), grid=ev["grid"], mode=ev["mode"])
    n_test_all = int((df["split"] == "test").sum())
    metrics["n_unparsed_excluded"] = n_test_all - len(test)
    metrics["auroc_ci95"] = bootstrap_auroc(test["label"].to_numpy(), r, ev["bootstrap"])
    curve = performance_curve(w, s, r, grid=ev["grid"], mode=ev["mode"])
    return thresholds, metrics, pd.DataFrame({k: curve[k] for k in ("call_rate", "performance", "recovery")})
