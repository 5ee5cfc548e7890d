"""Query features for K-model routers, one row per query of an outcome table.

Modes (``FEATURE_MODES``):

- ``embeddings``: rows of the embed rule's outputs (results/embeddings/{dataset}), by query id;
- ``embedder``: the configured sentence-embedding model on the prompts (routerlab.lm.embeddings);
- ``tfidf``: TF-IDF (word 1-2 grams) reduced by truncated SVD, both fitted on the train
  split's prompts only, rows L2-normalised: needs no model, fits any imported table;
- ``given``: the embeddings a RouterEval pickle carries.

Written like the embed rule's outputs: ``embeddings.npy``, ``index.parquet`` (id), ``meta.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from routerlab.core.io import read_frame, write_array, write_frame, write_json
from routerlab.kmodel.importers import routereval_embeddings
from routerlab.lm.embeddings import embed_texts

FEATURES_VERSION = 1
FEATURE_MODES = ("embeddings", "embedder", "tfidf", "given")


def tfidf_features(prompts: Sequence[str], train_mask: np.ndarray, dim: int = 256, seed: int = 0) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD  # lazy: sklearn would add ~1.5 s to every Snakefile parse
    from sklearn.feature_extraction.text import TfidfVectorizer

    prompts = [str(p) for p in prompts]
    train = [p for p, t in zip(prompts, train_mask) if t]
    if not train:
        raise ValueError("tfidf features need train-split prompts; the table has none")
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=50_000).fit(train)
    A = vec.transform(prompts)
    k = int(min(dim, A.shape[1] - 1, len(train) - 1))
    svd = TruncatedSVD(n_components=k, random_state=seed).fit(vec.transform(train)) if k >= 1 else None
    Z = np.asarray(A.toarray() if svd is None else svd.transform(A), dtype=np.float32)
    return Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)


def from_embedding_dirs(query_ids: Sequence[str], dirs: Mapping[str, str | Path]) -> np.ndarray:
    """Rows of several embed-rule outputs (dataset -> directory), in ``query_ids`` order."""
    rows: dict[str, tuple[np.ndarray, int]] = {}
    for d in dirs.values():
        arr = np.load(Path(d) / "embeddings.npy", mmap_mode="r")
        for i, qid in enumerate(read_frame(Path(d) / "index.parquet")["id"].astype(str)):
            rows[qid] = (arr, i)
    missing = [q for q in query_ids if q not in rows]
    if missing:
        raise ValueError(f"no embedding for {len(missing)} queries (first: {missing[:3]}) in "
                         f"{sorted(map(str, dirs.values()))}; re-run the embed rule")
    return np.stack([np.asarray(rows[q][0][rows[q][1]], dtype=np.float32) for q in query_ids])


def build(queries: Any, mode: str, *, embedding_dirs: Mapping[str, str | Path] | None = None,
          embedder: Mapping[str, Any] | None = None, routereval_file: str | Path | None = None,
          dim: int = 256) -> np.ndarray:
    """Features for the queries table of an outcome table (rows in its order)."""
    ids = queries["query_id"].astype(str).tolist()
    if mode == "embeddings":
        return from_embedding_dirs(ids, embedding_dirs or {})
    if mode == "embedder":
        return embed_texts(queries["prompt"].astype(str).tolist(), dict(embedder or {}))
    if mode == "tfidf":
        return tfidf_features(queries["prompt"].tolist(), (queries["split"] == "train").to_numpy(), dim=dim)
    if mode == "given":
        X = routereval_embeddings(routereval_file) if routereval_file else None
        if X is None:
            raise ValueError(f"{routereval_file}: the pickle carries no 'embedding' entry; use features: tfidf "
                             "or embedder for this source")
        if X.shape[0] != len(ids):
            raise ValueError(f"{routereval_file}: {X.shape[0]} embedding rows for {len(ids)} prompts")
        return X
    raise ValueError(f"unknown feature mode {mode!r}; expected one of {list(FEATURE_MODES)}")


def save(out_dir: str | Path, query_ids: Sequence[str], X: np.ndarray, meta: Mapping[str, Any]) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_array(out_dir / "embeddings.npy", np.asarray(X, dtype=np.float32))
    write_frame(out_dir / "index.parquet", pd.DataFrame({"id": [str(q) for q in query_ids]}))
    write_json(out_dir / "meta.json", {"version": FEATURES_VERSION, "shape": list(X.shape), **meta})


def load(out_dir: str | Path, query_ids: Sequence[str]) -> np.ndarray:
    """Features in ``query_ids`` order."""
    return from_embedding_dirs(query_ids, {"features": out_dir})
