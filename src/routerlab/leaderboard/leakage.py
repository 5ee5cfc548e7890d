"""Train/test leakage of an outcome source: exact and near-duplicate test queries.

A test query **leaks** when its text, normalised (Unicode NFKC, lower case, every run of
non-alphanumeric characters one space, trimmed), equals a training query's (*exact*), or when
the cosine similarity of its feature vector to some training query's is at least ``threshold``
(*near*; exact duplicates are not counted again). A router can memorise leaked queries, so
the leaderboard shows these counts beside every source and warns when they are not zero.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Sequence

import numpy as np

_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def normalise_text(text: Any) -> str:
    return _NON_ALNUM.sub(" ", unicodedata.normalize("NFKC", str(text)).lower()).strip()


def text_similarity(train_texts: Sequence[str], test_texts: Sequence[str]) -> np.ndarray:
    """Per test text, the highest cosine similarity of its TF-IDF vector (word 1-2 grams, sublinear tf,
    vocabulary and idf of the train texts) to any train text's. Exact text, not a projection: a
    low-dimensional projection (the sources' SVD features) makes templated prompts look alike."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # lazy: the Snakefile parse imports this package

    if not len(train_texts) or not len(test_texts):
        return np.zeros(len(test_texts))
    try:
        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(train_texts)
    except ValueError:  # train texts without a single word
        return np.zeros(len(test_texts))
    A, B = vec.transform(test_texts), vec.transform(train_texts)
    out = np.zeros(A.shape[0])
    for start in range(0, A.shape[0], 1024):  # bounded memory: 1024 test rows x train at a time
        out[start:start + 1024] = (A[start:start + 1024] @ B.T).max(axis=1).toarray().ravel()
    return out


def leakage_report(train_texts: Sequence[Any], test_texts: Sequence[Any], *, threshold: float = 0.95
                   ) -> dict[str, Any]:
    """Counts of exact and near-duplicate test queries (see the module docstring)."""
    if not 0 < threshold <= 1:
        raise ValueError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
    train = [normalise_text(t) for t in train_texts]
    test = [normalise_text(t) for t in test_texts]
    train_keys = set(train)
    exact = np.array([t in train_keys for t in test], dtype=bool)
    near = (text_similarity(train, test) >= threshold - 1e-12) & ~exact
    n = len(exact)
    return {"n_train": len(train), "n_test": n, "exact": int(exact.sum()), "near": int(near.sum()),
            "leaked_share": float((exact | near).mean()) if n else float("nan"),
            "threshold": float(threshold), "exact_rows": np.flatnonzero(exact).tolist()[:20],
            "near_rows": np.flatnonzero(near).tolist()[:20]}
