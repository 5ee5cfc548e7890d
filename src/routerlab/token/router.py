"""R2R-style token router: a classifier on weak-model token features, its threshold and a diagnosis.

``TokenRouter`` predicts, per token, the probability that the weak model's next token
diverges from the strong model's (labels and features: ``routerlab.token.labels``):
each input (last-layer hidden state, embedding of the weak token, top-k log-probabilities)
is standardised and projected to one width, the projections are summed, passed through
residual MLP blocks and a linear head, and a sigmoid gives the probability. Training:
class-weighted BCE (positives weighted ``recall_factor * n_neg / n_pos``), AdamW, early
stopping on the validation loss (the best epoch's weights are kept), seeded.

``token_report`` chooses the threshold on validation with ``routerlab.token.metrics``
(lowest LLM usage subject to recall >= target) and reports it on test beside what bounds
it, so a usage gap can be read off at once:

- prevalence: a perfect classifier still needs usage ``r_min * prevalence`` (oracle);
- classifier: the lowest usage this classifier's scores allow on test with hindsight
  (best threshold chosen on test itself), minus the oracle floor;
- threshold: the usage at the validation-chosen threshold minus that hindsight usage
  (threshold transfer from validation to test, and grid coarseness).

A random scorer needs usage ``r_min`` whatever the prevalence.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from routerlab.core.io import atomic_path
from routerlab.core.ranking import auroc
from routerlab.core.report import figure, save_figure, to_markdown, write_table_files
from routerlab.token.labels import TokenSet
from routerlab.token.metrics import recall_usage_curve, token_threshold_apply, token_threshold_search

log = logging.getLogger(__name__)

TOKEN_ROUTER_FORMAT_VERSION = 1
INPUTS = {"hidden": "hidden", "token": "token_embedding", "logits": "topk_logprobs"}  # input name -> array


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------

def load_token_data(token_dirs: Sequence[str | Path], inputs: Sequence[str],
                    splits: Sequence[str] | None = None) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Token rows (with a ``dataset`` column) and the input arrays they need, from several token dirs."""
    unknown = set(inputs) - set(INPUTS)
    if unknown:
        raise ValueError(f"token_router.classifier.inputs: unknown {sorted(unknown)}; expected some of {sorted(INPUTS)}")
    frames, arrays = [], {k: [] for k in inputs}
    for d in token_dirs:
        ts = TokenSet(d)
        keep = np.ones(len(ts.tokens), bool) if splits is None else ts.tokens["split"].isin(splits).to_numpy()
        frames.append(ts.tokens[keep].assign(dataset=Path(d).name))
        for k in inputs:
            arrays[k].append(np.asarray(ts.array(INPUTS[k])[keep], dtype=np.float32))
    tokens = pd.concat(frames, ignore_index=True)
    return tokens, {k: np.concatenate(v) for k, v in arrays.items()}


def training_labels(tokens: pd.DataFrame, label: str) -> np.ndarray:
    """``exact``: the divergence label; ``meaningful``: divergences that change the final answer.

    A meaningful-divergence check whose branches both reached no answer (NaN) counts as
    meaningful: the conservative side for a recall target.
    """
    if label == "exact":
        return tokens["label"].to_numpy(np.float32)
    if label == "meaningful":
        if "meaningful" not in tokens:
            raise ValueError("token_router.label = meaningful, but the token tables have no `meaningful` column; "
                             "set token_router.meaningful.enabled: true and re-run `token_labels`")
        return tokens["meaningful"].fillna(1.0).to_numpy(np.float32)
    raise ValueError(f"token_router.label = {label!r}: expected exact or meaningful")


# ---------------------------------------------------------------------------
# classifier
# ---------------------------------------------------------------------------

def _net(dims: Mapping[str, int], hidden_dim: int, n_blocks: int, dropout: float):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(hidden_dim)
            self.fc1, self.fc2 = nn.Linear(hidden_dim, 2 * hidden_dim), nn.Linear(2 * hidden_dim, hidden_dim)
            self.drop = nn.Dropout(dropout)

        def forward(self, z):
            return z + self.fc2(self.drop(nn.functional.gelu(self.fc1(self.norm(z)))))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.keys = sorted(dims)
            for k in self.keys:  # standardisation, learned in fit and saved with the weights
                self.register_buffer(f"mu_{k}", torch.zeros(dims[k]))
                self.register_buffer(f"sd_{k}", torch.ones(dims[k]))
            self.proj = nn.ModuleDict({k: nn.Linear(dims[k], hidden_dim) for k in self.keys})
            self.blocks = nn.ModuleList(Block() for _ in range(n_blocks))
            self.norm = nn.LayerNorm(hidden_dim)
            self.head = nn.Linear(hidden_dim, 1)

        def forward(self, xs: Mapping[str, Any]):
            # Summed projections = one linear layer on the concatenated inputs.
            z = sum(self.proj[k]((xs[k] - getattr(self, f"mu_{k}")) / getattr(self, f"sd_{k}")) for k in self.keys)
            for block in self.blocks:
                z = block(z)
            return self.head(self.norm(z)).squeeze(-1)  # logits; sigmoid gives P(diverge)

    return Net()


class TokenRouter:
    """Token-level divergence classifier (scikit-learn style: hyper-parameters in ``__init__``)."""

    def __init__(self, inputs: Sequence[str] = ("hidden", "token", "logits"), hidden_dim: int = 128,
                 n_blocks: int = 2, dropout: float = 0.1, lr: float = 1e-3, weight_decay: float = 1e-2,
                 batch_size: int = 256, max_epochs: int = 50, patience: int = 5, recall_factor: float = 1.0,
                 seed: int = 0):
        self.inputs = tuple(inputs)
        self.hidden_dim = hidden_dim
        self.n_blocks = n_blocks
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.recall_factor = recall_factor
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items() if not k.endswith("_")}

    def _tensors(self, X: Mapping[str, np.ndarray]) -> dict[str, Any]:
        import torch

        missing = [k for k in self.inputs if k not in X]
        if missing:
            raise ValueError(f"token router needs inputs {missing}; got {sorted(X)}")
        return {k: torch.as_tensor(np.asarray(X[k], dtype=np.float32)) for k in self.inputs}

    def fit(self, X: Mapping[str, np.ndarray], y: Any, X_val: Mapping[str, np.ndarray], y_val: Any) -> "TokenRouter":
        import torch

        y = np.asarray(y, dtype=np.float32)
        y_val = np.asarray(y_val, dtype=np.float32)
        if len(np.unique(y)) < 2:
            raise ValueError(f"token router: training labels have one class only ({np.unique(y).tolist()}): "
                             "the weak model never (or always) diverges on the training tokens; use more prompts "
                             "or longer continuations")
        if not len(y_val):
            raise ValueError("token router: no validation tokens for early stopping; give the datasets a "
                             "validation split (splits.validation > 0) or more prompts")
        torch.manual_seed(self.seed)
        xs, xv = self._tensors(X), self._tensors(X_val)
        dims = {k: v.shape[1] for k, v in xs.items()}
        net = _net(dims, self.hidden_dim, self.n_blocks, self.dropout)
        for k, v in xs.items():
            getattr(net, f"mu_{k}").copy_(v.mean(0))
            getattr(net, f"sd_{k}").copy_(v.std(0, unbiased=False).clamp_min(1e-6))
        pos = float(y.mean())
        pos_weight = self.recall_factor * (1 - pos) / pos  # class-balanced, scaled towards recall
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        target, target_val = torch.as_tensor(y), torch.as_tensor(y_val)
        gen = torch.Generator().manual_seed(self.seed)
        best, best_state, since, history = math.inf, None, 0, []
        for epoch in range(1, self.max_epochs + 1):
            net.train()
            total = 0.0
            for idx in torch.randperm(len(y), generator=gen).split(self.batch_size):
                opt.zero_grad()
                loss = loss_fn(net({k: v[idx] for k, v in xs.items()}), target[idx])
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            net.eval()
            with torch.no_grad():
                val_loss = float(loss_fn(net(xv), target_val))
            history.append({"epoch": epoch, "train_loss": total / len(y), "val_loss": val_loss})
            if val_loss < best:
                best, since = val_loss, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                since += 1
                if since >= self.patience:
                    break
        net.load_state_dict(best_state)
        net.eval()
        self.net_, self.dims_, self.history_ = net, dims, history
        self.best_epoch_ = min(history, key=lambda h: h["val_loss"])["epoch"]
        self.pos_weight_ = pos_weight
        log.info("token router: %d epochs, best %d (val loss %.4f), pos_weight %.3f", len(history),
                 self.best_epoch_, best, pos_weight)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise RuntimeError("token router is not fitted; call fit() or TokenRouter.load()")

    def predict_proba(self, X: Mapping[str, np.ndarray], batch_size: int = 8192) -> np.ndarray:
        """P(the weak token diverges) per token: higher means send it to the strong model."""
        import torch

        self._check_fitted()
        xs = self._tensors(X)
        n = len(next(iter(xs.values())))
        with torch.no_grad():
            parts = [torch.sigmoid(self.net_({k: v[s:s + batch_size] for k, v in xs.items()}))
                     for s in range(0, n, batch_size)]
        return torch.cat(parts).numpy().astype(np.float64) if parts else np.zeros(0)

    def save(self, path: str | Path) -> None:
        import torch

        self._check_fitted()
        state = {"format_version": TOKEN_ROUTER_FORMAT_VERSION, "params": self.get_params(), "dims": dict(self.dims_),
                 "state_dict": self.net_.state_dict(), "history": self.history_, "best_epoch": self.best_epoch_,
                 "pos_weight": self.pos_weight_}
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    @classmethod
    def load(cls, path: str | Path) -> "TokenRouter":
        import torch

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no trained token router; run the `token_router_train` rule") from None
        if state.get("format_version") != TOKEN_ROUTER_FORMAT_VERSION:
            raise ValueError(f"{path}: token router format {state.get('format_version')}, expected "
                             f"{TOKEN_ROUTER_FORMAT_VERSION}; delete it and re-run `token_router_train`")
        router = cls(**state["params"])
        router.dims_ = dict(state["dims"])
        router.net_ = _net(router.dims_, router.hidden_dim, router.n_blocks, router.dropout)
        router.net_.load_state_dict(state["state_dict"])
        router.net_.eval()
        router.history_, router.best_epoch_, router.pos_weight_ = state["history"], state["best_epoch"], state["pos_weight"]
        return router


def train_and_predict(token_dirs: Sequence[str | Path], classifier: Mapping[str, Any],
                      label: str = "exact") -> tuple[TokenRouter, pd.DataFrame]:
    """Fit on the train split, early-stop on validation; predictions for every split."""
    router = TokenRouter(**classifier)
    tokens, X = load_token_data(token_dirs, router.inputs)
    y = training_labels(tokens, label)
    split = tokens["split"].to_numpy()
    train, val = split == "train", split == "validation"
    router.fit({k: v[train] for k, v in X.items()}, y[train], {k: v[val] for k, v in X.items()}, y[val])
    pred = tokens[["dataset", "id", "position", "split"]].copy()
    pred["label"] = y
    pred["p"] = router.predict_proba(X)
    return router, pred


# ---------------------------------------------------------------------------
# threshold and diagnosis
# ---------------------------------------------------------------------------

def _row(name: str, search: Mapping[str, Any], val: pd.DataFrame, test: pd.DataFrame,
         r_min: float) -> tuple[dict[str, Any], dict[str, str]]:
    """One table row: the validation-chosen threshold on ``val`` and ``test``, hindsight and oracle usage."""
    v = token_threshold_apply(search, val["p"], val["label"]) if len(val) else None
    t = token_threshold_apply(search, test["p"], test["label"])
    hindsight = token_threshold_search(test["p"], test["label"], r_min=r_min, mode="exact")
    auc, auc_reason = auroc(test["label"], test["p"])
    nan = math.nan
    row = {
        "dataset": name, "n_val": len(val), "n_test": len(test),
        "prevalence_val": v["prevalence"] if v else nan, "prevalence_test": t["prevalence"],
        "threshold": search["threshold"],
        "recall_val": v["recall"] if v else nan, "usage_val": v["positive_rate"] if v else nan,
        "recall_test": t["recall"], "usage_test": t["positive_rate"],
        "usage_hindsight": hindsight["positive_rate"], "usage_oracle": t["usage_floor"], "usage_random": r_min,
        "auroc_test": auc,
    }
    row["gap_threshold"] = row["usage_test"] - row["usage_hindsight"]
    row["gap_classifier"] = row["usage_hindsight"] - row["usage_oracle"]
    reasons = {f"{name}, {k}": why for k, why in {"test": t.get("reason"), "hindsight": hindsight.get("reason"),
                                                  "auroc": auc_reason}.items() if why}
    return row, reasons


def token_report(pred: pd.DataFrame, r_min: float = 0.95, mode: str = "grid") -> dict[str, Any]:
    """Threshold chosen once on all validation tokens; reported on test overall and per dataset."""
    val, test = pred[pred["split"] == "validation"], pred[pred["split"] == "test"]
    if val.empty or test.empty:
        raise ValueError(f"token router predictions have {len(val)} validation and {len(test)} test tokens; "
                         "both are needed (more prompts, or non-zero validation/test split fractions)")
    search = token_threshold_search(val["p"], val["label"], r_min=r_min, mode=mode)
    parts = [("all", val, test)]
    if pred["dataset"].nunique() > 1:
        parts += [(d, val[val["dataset"] == d], t) for d, t in test.groupby("dataset")]
    rows, reasons = [], {"validation": search["reason"]} if search["reason"] else {}
    for name, v, t in parts:
        row, why = _row(name, search, v, t, r_min)
        rows.append(row)
        reasons.update(why)
    return {"r_min": r_min, "mode": mode, "rows": rows, "validation_search": search, "reasons": reasons}


def token_curve(pred: pd.DataFrame) -> pd.DataFrame:
    """Test recall-usage curve at every distinct score, per dataset and for all tokens."""
    test = pred[pred["split"] == "test"]
    parts = [("all", test)] + ([(d, g) for d, g in test.groupby("dataset")] if test["dataset"].nunique() > 1 else [])
    frames = []
    for name, g in parts:
        c = recall_usage_curve(g["p"].to_numpy(), g["label"].to_numpy(), np.unique(g["p"].to_numpy()))
        frames.append(pd.DataFrame({"dataset": name, "threshold": c["threshold"], "recall": c["recall"],
                                    "usage": c["positive_rate"], "prevalence": c["prevalence"]}))
    return pd.concat(frames, ignore_index=True)


REPORT_TITLE = "Token-level router (R2R): LLM usage at a recall target"


def report_notes(report: Mapping[str, Any], notes: Sequence[str] = ()) -> list[str]:
    """What the columns mean, and a sentence per dataset saying where the usage above the oracle floor goes."""
    r_min = report["r_min"]
    lines = [f"Recall target {r_min:g}: threshold chosen on validation ({report['mode']} search, lowest LLM usage "
             f"with recall >= target), reported on test. usage = share of tokens sent to the strong model.",
             f"- usage_oracle = {r_min:g} x prevalence (a perfect classifier); usage_random = {r_min:g} "
             "(a random scorer); usage_hindsight = best usage this classifier allows on test (threshold picked on "
             "test itself).",
             "- gap_classifier = usage_hindsight - usage_oracle; gap_threshold = usage_test - usage_hindsight.", ""]
    for row in report["rows"]:
        lines.append(f"- {row['dataset']}: " + diagnose(row, r_min))
    lines += [f"- {k}: {v}" for k, v in report.get("reasons", {}).items()]
    return lines + list(notes)


def markdown_report(report: Mapping[str, Any], notes: Sequence[str] = ()) -> str:
    return to_markdown(pd.DataFrame(report["rows"]), REPORT_TITLE, notes=report_notes(report, notes))


def write_report(report: Mapping[str, Any], md: str | Path, csv: str | Path) -> None:
    write_table_files(pd.DataFrame(report["rows"]), md, csv, None, REPORT_TITLE, report_notes(report))


def diagnose(row: Mapping[str, Any], r_min: float) -> str:
    """One sentence: usage at the chosen threshold split into prevalence floor, classifier and threshold parts."""
    u, h, o = row["usage_test"], row["usage_hindsight"], row["usage_oracle"]
    if any(isinstance(x, float) and math.isnan(x) for x in (u, h, o)):
        return "no usage at the recall target (see reasons)."
    text = (f"test usage {u:.3f} = oracle floor {o:.3f} (prevalence {row['prevalence_test']:.3f}) "
            f"+ classifier {h - o:+.3f} + threshold {u - h:+.3f}")
    rec = row["recall_test"]
    if not math.isnan(rec) and rec < r_min - 1e-9:
        text += f"; test recall {rec:.3f} misses the target, so the usage understates what the target costs"
    return text + "."


def plot_recall_usage(curve: pd.DataFrame, report: Mapping[str, Any], out_png: str | Path) -> None:
    """Recall against usage on test, with the oracle and random references, target line and operating point."""
    r_min = report["r_min"]
    rows = {r["dataset"]: r for r in report["rows"]}
    names = list(dict.fromkeys(curve["dataset"]))
    plt, fig, axes = figure(len(names), panel_size=(5.2, 4.4))
    for ax, name in zip(axes, names):
        c = curve[curve["dataset"] == name].sort_values("usage")
        prev = float(c["prevalence"].iloc[0])
        ax.plot(np.r_[0, c["usage"], 1], np.r_[0, c["recall"], 1], lw=1.6, label="token router")
        x = np.linspace(0, 1, 201)
        ax.plot(x, np.minimum(1, x / prev) if prev > 0 else np.ones_like(x), ls=":", c="green",
                label=f"oracle (prevalence {prev:.3f})")
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8, label="random")
        ax.axhline(r_min, c="red", lw=0.8, label=f"recall target {r_min:g}")
        row = rows.get(name, {})
        if not math.isnan(row.get("usage_test", math.nan)):
            ax.plot(row["usage_test"], row["recall_test"], "o", c="black",
                    label=f"validation threshold {row['threshold']:.3g}: usage {row['usage_test']:.3f}")
        if not math.isnan(row.get("usage_hindsight", math.nan)):
            at = c.loc[np.isclose(c["usage"], row["usage_hindsight"]), "recall"]
            ax.plot(row["usage_hindsight"], at.max() if len(at) else r_min, "x", c="purple",
                    label=f"best on test (hindsight): {row['usage_hindsight']:.3f}")
        ax.set(title=f"{name} (test)", xlabel="LLM usage (share of tokens sent to the strong model)",
               ylabel="recall of diverging tokens", xlim=(0, 1), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    save_figure(plt, fig, out_png)


# ---------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------
