"""The router interface every branch shares: ``RoutingData`` in, scores out, scikit-learn style.

    router.fit(train_data, y)           # binary: y = 1 where the weak model is good enough
    scores = router.score(test_data)    # kmodel: predict_proba(data) over K candidates
    router.save(path); Router.load(path)

Hyper-parameters live in ``__init__``; learned state ends in ``_``. Training-free
routers implement ``fit`` as validation only. Each branch registers its routers in its own
registry (``routerlab.binary.routers.ROUTERS``, ``routerlab.kmodel.routers.ROUTERS``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

import joblib
import numpy as np
import pandas as pd

from routerlab.core.io import atomic_path

ROUTER_FORMAT_VERSION = 1


@dataclass
class RoutingData:
    """Per-query inputs a router may use, aligned on ``ids``; arrays may be memory-mapped."""

    ids: list[str]
    logits: pd.DataFrame | None = None  # logit statistics (features.LOGIT_STATS + top-k)
    hidden_mean: np.ndarray | None = None  # [n, layers + 1, hidden]
    hidden_last: np.ndarray | None = None
    embeddings: np.ndarray | None = None  # [n, d]
    # Self-based inputs (routerlab.binary.uncertainty), one row per query: lists ``clusters`` and
    # ``mean_logprobs`` of the sampled answers; ``p_yes`` of the self-check.
    samples: pd.DataFrame | None = None
    self_check: pd.DataFrame | None = None
    texts: list[str] | None = None  # query text (encoder classifier)
    source: dict[str, str] = field(default_factory=dict)  # feature name -> path, for error messages

    def __len__(self) -> int:
        return len(self.ids)

    def require(self, key: str, router: str) -> Any:
        value = getattr(self, key)
        if value is None:
            where = ", ".join(f"{k}={v}" for k, v in self.source.items()) or "no feature files"
            raise ValueError(
                f"router {router!r} needs features {key!r}, which were not extracted ({where}); "
                f"enable them in the config or choose another router"
            )
        return value

    def take(self, idx: Sequence[int]) -> "RoutingData":
        idx = np.asarray(idx, dtype=int)
        pick = lambda a: None if a is None else np.asarray(a[idx])  # noqa: E731
        rows = lambda df: None if df is None else df.iloc[idx].reset_index(drop=True)  # noqa: E731
        return RoutingData(
            ids=[self.ids[i] for i in idx],
            logits=rows(self.logits),
            hidden_mean=pick(self.hidden_mean), hidden_last=pick(self.hidden_last),
            embeddings=pick(self.embeddings), samples=rows(self.samples), self_check=rows(self.self_check),
            texts=None if self.texts is None else [self.texts[i] for i in idx], source=self.source,
        )


def check_labels(y: Any, router: str) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or np.isnan(y).any():
        raise ValueError(f"router {router!r}: labels must be a 1-D array without NaN")
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"router {router!r}: training labels have one class only ({classes.tolist()}): "
            "the weak model is always right or always wrong on the training set, so there is nothing "
            "to learn; use more or harder training data"
        )
    return y


class Router:
    """Base class. Subclasses set ``name``, ``requires`` and implement ``_fit``/``score``."""

    name: ClassVar[str] = "base"
    requires: ClassVar[tuple[str, ...]] = ()
    trainable: ClassVar[bool] = True
    higher_is_better: ClassVar[bool] = True
    # Scores are calibrated probabilities P(weak good enough) (reliability plots apply).
    probabilistic: ClassVar[bool] = False
    # "binary": score(data) -> weak confidence; "kmodel": predict_proba(data) over K candidates
    # (routerlab.kmodel.routers). Each task has its own name space in the registry.
    task: ClassVar[str] = "binary"

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def fit(self, data: RoutingData, y: Any) -> "Router":
        # Training-free routers read nothing when fitted: their inputs are checked when scoring
        # (so the workflow need not build them for the training split).
        if self.trainable:
            for key in self.requires:
                data.require(key, self.name)
            y = check_labels(y, self.name)
        self._fit(data, y)
        self.fitted_ = True
        return self

    def _fit(self, data: RoutingData, y: np.ndarray) -> None:
        pass

    def score(self, data: RoutingData) -> np.ndarray:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise RuntimeError(f"router {self.name!r} is not fitted; call fit() or load() first")

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp:
            joblib.dump({"format": ROUTER_FORMAT_VERSION, "name": self.name, "router": self}, tmp)

    @staticmethod
    def load(path: str | Path) -> "Router":
        try:
            blob = joblib.load(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no trained router; run the `train` rule") from None
        except Exception as e:  # unpickling errors come in many types
            raise ValueError(f"{path}: cannot load router ({type(e).__name__}: {e}); delete it and re-train") from None
        if blob.get("format") != ROUTER_FORMAT_VERSION:
            raise ValueError(f"{path}: router format {blob.get('format')}, expected {ROUTER_FORMAT_VERSION}; re-train")
        return blob["router"]
