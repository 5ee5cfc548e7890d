"""R2-Router (RouterArena branch): category-aware quality and token predictors, risk-aware routing.

Pipeline (seed 000):

1. a query category classifier (logistic regression on the query embedding);
2. per (category, model, budget) a quality predictor and per (category, model) a token
   predictor (ridge regression on the embedding; tokens in log1p space), each shrunk
   towards its category mean when its cross-validated fit is poor: with R2_cv the
   out-of-fold R^2, the prediction is w * fitted + (1 - w) * category mean,
   w = clip(R2_cv / trust_r2, 0, 1) (categories with fewer than ``min_rows`` training
   queries, or a constant target, use the mean alone);
3. routing by the token-aware risk objective argmax_c (1 - lam) q_hat_c - lam * cost_c with
   cost_c = t_hat_c * price_out / 1e6 (``metrics.r2_router_choice``); t_hat is capped at the
   candidate's output-token budget.

Candidates are the outcome table's models; a ``budget`` column gives each its output-token
budget and ``base_model`` the LLM behind it (one LLM at several budgets = several candidates
sharing one token predictor, which learns from the largest budget's lengths). Sources
with costs but no token counts or output prices (RouterBench) predict the per-query cost
directly (``usage = "cost"``; files ``*_cost.joblib``) in place of t_hat * price_out / 1e6.

The checkpoint bundle keeps the seed's layout::

    category_router/
      classifier.joblib  classifier_cv_results.json  category_means.pkl
      predictor_metrics.pkl  predictor_results.json  routing_results.json  train_test_split.pkl
      predictors/<Category>/<candidate>_quality.joblib (+ _quality_meta.json)
      predictors/<Category>/<model>_token.joblib
      manifest.json      (ours: format, library versions, candidates, file names)

It is found by config or the ``R2_CHECKPOINT_DIR`` environment variable
(:func:`resolve_checkpoint_dir`). joblib files depend on the library versions that wrote
them; a bundle that does not load raises :class:`CheckpointError` naming the retrain target.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import platform
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from routerlab import __version__
from routerlab.core.io import write_json
from routerlab.kmodel.cost import r2_router_choice

BUNDLE_FORMAT = 1
ENV_VAR = "R2_CHECKPOINT_DIR"
USAGE_KINDS = ("tokens", "cost")


class CheckpointError(RuntimeError):
    """An R2-Router bundle that cannot be used here; the message names the retrain target."""


@dataclass(frozen=True)
class Candidate:
    """One routing choice: ``name`` (the outcome table's model value), its LLM and output-token budget."""

    name: str
    model: str
    budget: float = math.nan  # NaN = no budget

    @property
    def key(self) -> str:
        return self.name


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "x"


def _unique_names(names: Sequence[str]) -> dict[str, str]:
    out, used = {}, set()
    for n in names:
        base = cand = _safe(n)
        i = 2
        while cand in used:
            cand, i = f"{base}_{i}", i + 1
        used.add(cand)
        out[n] = cand
    return out


def _versions() -> dict[str, str]:
    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__, "numpy": np.__version__,
            "joblib": joblib.__version__, "routerlab": __version__}


def resolve_checkpoint_dir(configured: str | None, source: str) -> Path | None:
    """The bundle to load instead of training: config first, then ``$R2_CHECKPOINT_DIR``; ``{source}`` expands."""
    raw = configured or os.environ.get(ENV_VAR) or None
    return Path(raw.format(source=source)).expanduser() if raw else None


def retrain_hint(retrain_target: str | None) -> str:
    target = retrain_target or "results/kmodel/<source>/r2router/category_router"
    return (f"retrain it from data with `snakemake --cores 2 {target} --forcerun kmodel_r2router_train` "
            f"(and unset {ENV_VAR} / kmodel.r2router.checkpoint_dir if they point at this bundle)")


class _ShrunkRegressor:
    """A ridge fit on one category's rows, shrunk towards the category mean by its CV R^2."""

    def __init__(self, mean: float, weight: float, model: Any, lo: float, hi: float):
        self.mean, self.weight, self.model, self.lo, self.hi = mean, weight, model, lo, hi

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.model is None or self.weight == 0.0:
            return np.full(X.shape[0], self.mean)
        fitted = np.clip(self.model.predict(X), self.lo, self.hi)
        return self.weight * fitted + (1.0 - self.weight) * self.mean


def _fit_shrunk(X: np.ndarray, y: np.ndarray, *, alpha: float, cv_folds: int, min_rows: int, trust_r2: float,
                seed: int) -> tuple[_ShrunkRegressor, dict[str, Any]]:
    n, mean = len(y), float(np.mean(y))
    info: dict[str, Any] = {"n": n, "mean": mean, "cv_r2": None, "weight": 0.0, "reason": None}
    if n < max(min_rows, 2):
        info["reason"] = f"{n} training rows < min_rows {min_rows}: category mean"
        return _ShrunkRegressor(mean, 0.0, None, mean, mean), info
    if np.ptp(y) == 0:
        info["reason"] = "constant target: category mean"
        return _ShrunkRegressor(mean, 0.0, None, mean, mean), info
    model = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
    folds = KFold(n_splits=min(cv_folds, n), shuffle=True, random_state=seed)
    oof = cross_val_predict(model, X, y, cv=folds)
    r2 = 1.0 - float(((y - oof) ** 2).sum()) / float(((y - mean) ** 2).sum())
    w = float(np.clip(r2 / trust_r2, 0.0, 1.0))
    info.update(cv_r2=r2, weight=w, reason=None if w > 0 else "cross-validated R^2 <= 0: category mean")
    model.fit(X, y)
    return _ShrunkRegressor(mean, w, model, float(y.min()), float(y.max())), info


class R2Router:
    """R2-Router's predictors and routing rule (see the module docstring)."""

    def __init__(self, trust_r2: float = 0.2, min_rows: int = 8, cv_folds: int = 5, alpha: float = 10.0,
                 C: float = 1.0, seed: int = 0):
        if trust_r2 <= 0:
            raise ValueError(f"trust_r2 must be > 0, got {trust_r2}")
        self.trust_r2, self.min_rows, self.cv_folds, self.alpha, self.C, self.seed = (
            trust_r2, min_rows, cv_folds, alpha, C, seed)

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("trust_r2", "min_rows", "cv_folds", "alpha", "C", "seed")}

    # --- training ---------------------------------------------------------------------------

    def fit(self, X: Any, categories: Sequence[str], Y: Any, usage: Any, candidates: Sequence[Candidate], *,
            usage_kind: str, price_out: Mapping[str, float] | None = None) -> "R2Router":
        """``Y`` [n, C] quality per candidate; ``usage`` [n, C] output tokens (or USD cost) per candidate."""
        X = np.asarray(X, dtype=np.float32)
        Y, U = np.asarray(Y, dtype=float), np.asarray(usage, dtype=float)
        cats = np.asarray(categories).astype(str)
        n, C = len(cats), len(candidates)
        if X.shape[0] != n or Y.shape != (n, C) or U.shape != (n, C):
            raise ValueError(f"shape mismatch: X {X.shape}, categories {n}, Y {Y.shape}, usage {U.shape}, "
                             f"{C} candidates")
        if usage_kind not in USAGE_KINDS:
            raise ValueError(f"usage_kind must be one of {USAGE_KINDS}, got {usage_kind!r}")
        if not (np.isfinite(Y).all() and np.isfinite(U).all()) or (U < 0).any():
            raise ValueError("R2-Router needs finite scores and non-negative token counts / costs for every candidate")
        self.candidates_ = list(candidates)
        self.models_ = list(dict.fromkeys(c.model for c in candidates))
        self.usage_kind_ = usage_kind
        if usage_kind == "tokens":
            missing = [m for m in self.models_ if price_out is None or m not in price_out]
            if missing:
                raise ValueError(f"usage_kind 'tokens' needs an output price for every model; missing {missing}")
            self.price_out_ = {m: float(price_out[m]) for m in self.models_}
        else:
            self.price_out_ = None
        self.n_features_ = X.shape[1]
        self.categories_ = sorted(set(cats))
        self._fit_classifier(X, cats)
        self.quality_, self.usage_, self.metrics_ = {}, {}, []
        self.category_means_: dict[str, dict[str, Any]] = {}
        # The usage predictor of a model learns from its largest budget (the least truncated lengths).
        usage_col = {m: max((j for j, c in enumerate(candidates) if c.model == m),
                            key=lambda j: (np.inf if math.isnan(candidates[j].budget) else candidates[j].budget))
                     for m in self.models_}
        kw = dict(alpha=self.alpha, cv_folds=self.cv_folds, min_rows=self.min_rows, trust_r2=self.trust_r2,
                  seed=self.seed)
        for cat in self.categories_:
            rows = cats == cat
            Xc = X[rows]
            self.category_means_[cat] = {"n": int(rows.sum()),
                                         "quality": {c.key: float(Y[rows, j].mean()) for j, c in enumerate(candidates)},
                                         f"{usage_kind}_mean": {m: float(U[rows, usage_col[m]].mean())
                                                                for m in self.models_}}
            for j, cand in enumerate(candidates):
                reg, info = _fit_shrunk(Xc, Y[rows, j], **kw)
                self.quality_[(cat, cand.key)] = reg
                self.metrics_.append({"category": cat, "model": cand.model, "budget": cand.budget,
                                      "candidate": cand.key, "target": "quality", **info})
            for m in self.models_:
                reg, info = _fit_shrunk(Xc, np.log1p(U[rows, usage_col[m]]), **kw)
                self.usage_[(cat, m)] = reg
                self.metrics_.append({"category": cat, "model": m, "budget": math.nan, "candidate": m,
                                      "target": f"log1p {usage_kind}", **info})
        return self

    def _fit_classifier(self, X: np.ndarray, cats: np.ndarray) -> None:
        labels, counts = np.unique(cats, return_counts=True)
        if len(labels) == 1:
            self.classifier_ = None  # one category: nothing to classify
            self.classifier_cv_ = {"n": int(len(cats)), "categories": labels.tolist(), "cv_accuracy": None,
                                   "reason": "one category"}
            return
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=2000))
        folds = int(min(self.cv_folds, counts.min()))
        if folds >= 2:
            acc = cross_val_score(clf, X, cats, cv=StratifiedKFold(folds, shuffle=True, random_state=self.seed))
            cv = {"cv_accuracy": acc.tolist(), "mean_accuracy": float(acc.mean()), "folds": folds, "reason": None}
        else:
            cv = {"cv_accuracy": None, "reason": f"smallest category has {counts.min()} rows: no cross-validation"}
        self.classifier_ = clf.fit(X, cats)
        self.classifier_cv_ = {"n": int(len(cats)), "categories": labels.tolist(),
                               "counts": counts.tolist(), **cv}

    # --- prediction ---------------------------------------------------------------------------

    def _check_X(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_:
            raise ValueError(f"features have shape {X.shape}; this R2-Router was trained on {self.n_features_}-d "
                             "features (same embedder needed)")
        return X

    def predict_category(self, X: Any) -> np.ndarray:
        X = self._check_X(X)
        if self.classifier_ is None:
            return np.full(X.shape[0], self.categories_[0], dtype=object)
        return self.classifier_.predict(X).astype(object)

    def predict(self, X: Any, categories: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(q_hat, cost_hat) [n, C]: predicted quality and predicted cost in USD per query.

        ``categories``: the queries' categories (default: the classifier's predictions).
        """
        X = self._check_X(X)
        cats = self.predict_category(X) if categories is None else np.asarray(categories, dtype=object)
        n, C = X.shape[0], len(self.candidates_)
        q, cost = np.empty((n, C)), np.empty((n, C))
        for cat in np.unique(cats.astype(str)):
            rows = cats.astype(str) == cat
            if cat not in self.category_means_:
                raise ValueError(f"category {cat!r} was not seen in training (known: {self.categories_})")
            Xc = X[rows]
            tok = {m: np.expm1(self.usage_[(cat, m)].predict(Xc)) for m in self.models_}
            for j, cand in enumerate(self.candidates_):
                q[rows, j] = self.quality_[(cat, cand.key)].predict(Xc)
                t = tok[cand.model] if math.isnan(cand.budget) else np.minimum(tok[cand.model], cand.budget)
                cost[rows, j] = t * self.price_out_[cand.model] / 1e6 if self.usage_kind_ == "tokens" else t
        return q, np.clip(cost, 0.0, None)

    def route(self, X: Any, lam: float, *, categories: Sequence[str] | None = None,
              predictions: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Candidate index per query: argmax (1 - lam) q_hat - lam * cost_hat."""
        q, cost = predictions if predictions is not None else self.predict(X, categories)
        # r2_router_choice takes tokens and USD per 1M tokens: cost in USD = (cost * 1e6) * 1 / 1e6.
        return r2_router_choice(q, cost * 1e6, np.ones(q.shape[1]), lam)

    # --- the checkpoint bundle ----------------------------------------------------------------

    def save(self, bundle_dir: str | Path, *, split: Mapping[str, Sequence[str]],
             routing_results: Mapping[str, Any]) -> None:
        """Write the bundle (seed 000's layout) atomically: into a temporary directory, then renamed."""
        bundle_dir = Path(bundle_dir)
        bundle_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{bundle_dir.name}.", dir=bundle_dir.parent))
        try:
            cat_dirs = _unique_names(self.categories_)
            model_files = _unique_names(self.models_)
            cand_files = _unique_names([c.key for c in self.candidates_])
            joblib.dump({"classifier": self.classifier_, "categories": self.categories_}, tmp / "classifier.joblib")
            write_json(tmp / "classifier_cv_results.json", self.classifier_cv_)
            with open(tmp / "category_means.pkl", "wb") as f:
                pickle.dump(self.category_means_, f)
            metrics = pd.DataFrame(self.metrics_)
            metrics.to_pickle(tmp / "predictor_metrics.pkl")
            write_json(tmp / "predictor_results.json", _json_rows(self.metrics_))
            write_json(tmp / "routing_results.json", routing_results)
            with open(tmp / "train_test_split.pkl", "wb") as f:
                pickle.dump({k: list(v) for k, v in split.items()}, f)
            usage_suffix = "token" if self.usage_kind_ == "tokens" else "cost"
            for cat in self.categories_:
                d = tmp / "predictors" / cat_dirs[cat]
                d.mkdir(parents=True)
                for cand in self.candidates_:
                    stem = cand_files[cand.key]
                    joblib.dump(self.quality_[(cat, cand.key)], d / f"{stem}_quality.joblib")
                    info = next(r for r in self.metrics_ if r["category"] == cat and r["candidate"] == cand.key
                                and r["target"] == "quality")
                    write_json(d / f"{stem}_quality_meta.json", _json_rows([{**info, "model": cand.model}])[0])
                for m in self.models_:
                    joblib.dump(self.usage_[(cat, m)], d / f"{model_files[m]}_{usage_suffix}.joblib")
            write_json(tmp / "manifest.json", {
                "format": BUNDLE_FORMAT, "versions": _versions(), "params": self.get_params(),
                "usage_kind": self.usage_kind_, "price_out": self.price_out_, "n_features": self.n_features_,
                "categories": {c: cat_dirs[c] for c in self.categories_},
                "models": {m: model_files[m] for m in self.models_},
                "candidates": [{"name": c.name, "model": c.model,
                                "budget": None if math.isnan(c.budget) else c.budget, "file": cand_files[c.key]}
                               for c in self.candidates_]})
            if bundle_dir.exists():
                shutil.rmtree(bundle_dir)
            os.replace(tmp, bundle_dir)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)

    @classmethod
    def load(cls, bundle_dir: str | Path, *, retrain_target: str | None = None) -> "R2Router":
        """Load a bundle; any incompatibility raises :class:`CheckpointError` with the retrain target."""
        bundle_dir = Path(bundle_dir)
        hint = retrain_hint(retrain_target)
        manifest_path = bundle_dir / "manifest.json"
        if not bundle_dir.is_dir():
            raise CheckpointError(f"{bundle_dir}: no R2-Router checkpoint directory; {hint}")
        if not manifest_path.is_file():
            raise CheckpointError(f"{bundle_dir}: no manifest.json, so not a bundle this version of routerlab wrote "
                                  f"(a release bundle's predictors are not portable); {hint}")
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != BUNDLE_FORMAT:
            raise CheckpointError(f"{manifest_path}: bundle format {manifest.get('format')}, expected "
                                  f"{BUNDLE_FORMAT}; {hint}")
        written = manifest.get("versions", {})
        here = _versions()
        for lib, depth in (("scikit-learn", 2), ("numpy", 1), ("python", 2)):
            a, b = str(written.get(lib, "?")).split(".")[:depth], here[lib].split(".")[:depth]
            if a != b:
                raise CheckpointError(
                    f"{bundle_dir}: library version mismatch: the bundle was written with {lib} "
                    f"{written.get(lib, 'unknown')}, this environment has {here[lib]}; joblib checkpoints depend on "
                    f"the versions that wrote them, so it cannot be loaded safely; {hint}")

        def _load(path: Path) -> Any:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", category=getattr(sklearn.exceptions, "InconsistentVersionWarning",
                                                                    UserWarning))
                    if path.suffix == ".pkl":
                        return pd.read_pickle(path)
                    return joblib.load(path)
            except Exception as e:  # unpickling fails in many ways across versions
                raise CheckpointError(f"{path}: cannot load ({type(e).__name__}: {e}); written with scikit-learn "
                                      f"{written.get('scikit-learn', 'unknown')}, here {sklearn.__version__}; "
                                      f"{hint}") from None

        self = cls(**manifest["params"])
        clf = _load(bundle_dir / "classifier.joblib")
        self.classifier_, self.categories_ = clf["classifier"], list(clf["categories"])
        self.classifier_cv_ = json.loads((bundle_dir / "classifier_cv_results.json").read_text())
        self.category_means_ = _load(bundle_dir / "category_means.pkl")
        self.metrics_ = _load(bundle_dir / "predictor_metrics.pkl").to_dict("records")
        self.usage_kind_, self.price_out_ = manifest["usage_kind"], manifest["price_out"]
        self.n_features_ = int(manifest["n_features"])
        self.candidates_ = [Candidate(c["name"], c["model"], math.nan if c["budget"] is None else float(c["budget"]))
                            for c in manifest["candidates"]]
        self.models_ = list(manifest["models"])
        suffix = "token" if self.usage_kind_ == "tokens" else "cost"
        self.quality_, self.usage_ = {}, {}
        for cat, cdir in manifest["categories"].items():
            d = bundle_dir / "predictors" / cdir
            for c, spec in zip(self.candidates_, manifest["candidates"]):
                self.quality_[(cat, c.key)] = _load(d / f"{spec['file']}_quality.joblib")
            for m, mfile in manifest["models"].items():
                self.usage_[(cat, m)] = _load(d / f"{mfile}_{suffix}.joblib")
        return self

    def check_compatible(self, candidates: Sequence[Candidate], usage_kind: str, n_features: int,
                         where: str | Path, retrain_target: str | None = None) -> None:
        """A loaded bundle must route the same candidates with the same features as the data."""
        mine, theirs = [c.key for c in self.candidates_], [c.key for c in candidates]
        problems = []
        if mine != theirs:
            problems.append(f"candidates {mine} != the data's {theirs}")
        if self.usage_kind_ != usage_kind:
            problems.append(f"usage {self.usage_kind_!r} != the data's {usage_kind!r}")
        if self.n_features_ != n_features:
            problems.append(f"{self.n_features_}-d features != the data's {n_features}-d")
        if problems:
            raise CheckpointError(f"{where}: the bundle does not fit this source: {'; '.join(problems)}; "
                                  f"{retrain_hint(retrain_target)}")


def _json_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()})
    return out
