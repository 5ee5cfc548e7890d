"""The binary branch's inputs: per-query labels from weak/strong scores, and ``RoutingData`` with
every available feature aligned by id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from routerlab.binary.features import FeatureSet
from routerlab.core.io import read_frame
from routerlab.core.router import RoutingData
from routerlab.core.runtime import records
from routerlab.lm.prompts import query_text
from routerlab.scoring.frames import require_rows, scored_samples

LABELS_VERSION = 1

def labels_frame(data: pd.DataFrame, weak: pd.DataFrame, strong: pd.DataFrame,
                 sources: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per query: split, weak/strong scores and the router label.

    label = weak correctness for verifiable tasks; 1[weak >= strong] for judge-scored
    open-ended tasks (docs/metrics.md §1.1). Rows whose score could not be parsed keep
    ``usable = False``: excluded from training and metrics, and counted.

    ``sources`` (the files, keys ``data``, ``weak``, ``strong``) makes a score table that
    lacks some of the dataset's ids an error naming both files, instead of unusable rows:
    the workflow passes them; a frame assembled by hand may leave ids out on purpose.
    """
    if sources is not None:
        for role, frame in (("weak", weak), ("strong", strong)):
            require_rows(data["id"], frame["id"], sources["data"], sources[role],
                         "the scores are older than the dataset or were cut short: delete them and re-run "
                         "(snakemake --forcerun score)")
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
    frames, logits, means, lasts, embs = [], [], [], [], []
    samples, checks, texts = [], [], []
    uncertain = ("only the rows of `uncertainty.splits` are sampled and self-checked: "
                 f"add {list(splits)} there, or re-run the rule if the dataset changed")
    sources: dict[str, str] = {}
    for i, lp in enumerate(label_paths):
        lab = read_frame(lp)
        lab = lab[lab["split"].isin(splits)].reset_index(drop=True)
        lab["dataset"] = Path(lp).stem
        frames.append(lab)
        if feature_dirs:
            fs = FeatureSet(feature_dirs[i])
            idx = _positions(fs.ids, lab["id"], wanted_from=str(lp), where=feature_dirs[i])
            logits.append(fs.logits.iloc[idx].reset_index(drop=True))
            means.append(np.asarray(fs.array("hidden_mean")[idx]))
            lasts.append(np.asarray(fs.array("hidden_last")[idx]))
            sources["features"] = str(feature_dirs[i])
        if embedding_dirs:
            ids = read_frame(Path(embedding_dirs[i]) / "index.parquet")["id"].astype(str).tolist()
            arr = np.load(Path(embedding_dirs[i]) / "embeddings.npy", mmap_mode="r")
            embs.append(np.asarray(arr[_positions(ids, lab["id"], wanted_from=str(lp),
                                                  where=embedding_dirs[i])]))
            sources["embeddings"] = str(embedding_dirs[i])
        if cluster_paths:
            cl = read_frame(cluster_paths[i]).sort_values(["id", "sample"], kind="stable")
            per_query = cl.groupby("id", sort=False).agg(clusters=("cluster", list),
                                                          mean_logprobs=("mean_logprob", list))
            idx = _positions(per_query.index.astype(str), lab["id"], wanted_from=str(lp), where=cluster_paths[i],
                             what="samples", fix=uncertain)
            samples.append(per_query.iloc[idx].reset_index(drop=True))
            sources["samples"] = str(cluster_paths[i])
        if self_check_paths:
            sc = read_frame(self_check_paths[i])
            idx = _positions(sc["id"].astype(str), lab["id"], wanted_from=str(lp), where=self_check_paths[i],
                             what="self-checks", fix=uncertain)
            checks.append(sc.iloc[idx].reset_index(drop=True))
            sources["self_check"] = str(self_check_paths[i])
        if dataset_paths:
            ds = read_frame(dataset_paths[i])
            idx = _positions(ds["id"].astype(str), lab["id"], wanted_from=str(lp), where=dataset_paths[i],
                             what="dataset rows", fix="the labels are older than the dataset: re-run the workflow")
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
               fix: str = "the features are older than the dataset: re-run the `features` rule",
               wanted_from: str = "the labels") -> np.ndarray:
    pos = {k: i for i, k in enumerate(index_ids)}
    missing = [k for k in wanted if k not in pos]
    if missing:
        raise ValueError(f"{where}: no {what} for {len(missing)} ids (of the {len(wanted)} of {wanted_from}; "
                         f"first: {missing[:3]}); {fix}")
    return np.array([pos[k] for k in wanted], dtype=int)
