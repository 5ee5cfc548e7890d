"""Router labels (``binary.data.labels_frame``) and how unusable rows are kept out of training and metrics.

Every expected label below is worked out by hand from the rule in ``labels_frame``'s
docstring: open-ended (judge-scored) rows get 1[weak >= strong] (a tie means the weak
model was good enough), verifiable rows get the weak score, and a row with a NaN or
missing weak/strong score is unusable (label NaN) and must never reach a router's fit or
the metrics.
"""

from __future__ import annotations

import json
import math
import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from routerlab.binary.data import labels_frame, load_routing_data
from routerlab.binary.routers import ROUTERS
from routerlab.binary.runs import evaluate_predictions
from routerlab.core import runtime
from routerlab.core.io import read_frame, write_frame
from routerlab.core.router import Router

ROOT = Path(__file__).resolve().parents[1]
NAN = float("nan")


def scores(rows):
    """A scores table (the `score` rule's output) from (id, sample, score, status) tuples."""
    return pd.DataFrame(rows, columns=["id", "sample", "score", "status"])


def same(actual, expected):
    """Element-wise equality where NaN == NaN; the lists are compared whole for a readable failure."""
    a = [None if isinstance(x, float) and math.isnan(x) else x for x in actual]
    e = [None if isinstance(x, float) and math.isnan(x) else x for x in expected]
    assert a == e


# --------------------------------------------------------------------------- labels_frame

# One query per case; the expected label and usable flag of each are in the test below.
DATA = pd.DataFrame({
    "id": ["o_tie", "o_tie0", "o_lt", "o_gt", "o_nanw", "o_nans", "o_miss",
           "m_right", "m_wrong", "c_bothwrong", "q_partial", "m_nanw", "m_nans", "c_missw", "m_misss",
           "o_multi", "m_multi"],
    "split": ["train", "train", "validation", "test", "test", "train", "test",
              "train", "validation", "test", "train", "test", "validation", "train", "test",
              "train", "test"],
    "task": ["open", "open", "open", "open", "open", "open", "open",
             "math", "math", "mc", "qa", "math", "math", "code", "math",
             "open", "math"],
    "prompt": ["p"] * 17,  # extra dataset columns are not carried over
})

WEAK = scores([
    ("o_tie", 0, 0.7, "ok"),
    ("o_tie0", 0, 0.0, "ok"),
    ("o_lt", 0, 0.3, "ok"),
    ("o_gt", 0, 0.9, "ok"),
    ("o_nanw", 0, NAN, "unparsed"),  # judge reply without a verdict
    ("o_nans", 0, 0.5, "ok"),
    ("o_miss", 0, 1.0, "ok"),
    ("m_right", 0, 1.0, "ok"),
    ("m_wrong", 0, 0.0, "ok"),
    ("c_bothwrong", 0, 0.0, "unparsed"),  # an unparsed verifiable answer is wrong (0.0), not unknown
    ("q_partial", 0, 0.5, "ok"),
    ("m_nanw", 0, NAN, "error"),
    ("m_nans", 0, 1.0, "ok"),
    # c_missw: no weak generation at all
    ("m_misss", 0, 1.0, "ok"),
    # several samples per id, in the (id, sample) order of every generations table: sample 0 is scored
    ("o_multi", 0, 0.2, "ok"), ("o_multi", 1, 0.9, "ok"), ("o_multi", 2, 1.0, "ok"),
    ("m_multi", 0, 1.0, "ok"), ("m_multi", 1, 0.0, "unparsed"),
    ("not_in_data", 0, 1.0, "ok"),  # ignored
])

STRONG = scores([
    ("o_tie", 0, 0.7, "ok"),
    ("o_tie0", 0, 0.0, "ok"),
    ("o_lt", 0, 0.8, "ok"),
    ("o_gt", 0, 0.2, "ok"),
    ("o_nanw", 0, 0.5, "ok"),
    ("o_nans", 0, NAN, "unparsed"),
    # o_miss: no strong generation
    ("m_right", 0, 0.0, "ok"),
    ("m_wrong", 0, 1.0, "ok"),
    ("c_bothwrong", 0, 0.0, "ok"),
    ("q_partial", 0, 1.0, "ok"),
    ("m_nanw", 0, 1.0, "ok"),
    ("m_nans", 0, NAN, "timeout"),
    ("c_missw", 0, 1.0, "ok"),
    # m_misss: no strong generation
    ("o_multi", 0, 0.5, "ok"), ("o_multi", 1, 0.1, "ok"),
    ("m_multi", 0, 0.0, "ok"), ("m_multi", 1, 1.0, "ok"),
])


def test_labels_frame_hand_worked_cases():
    df = labels_frame(DATA, WEAK, STRONG)
    assert list(df.columns) == ["id", "split", "task", "weak_score", "strong_score", "weak_status",
                                "strong_status", "judge_scored", "label", "usable"]
    assert df["id"].tolist() == DATA["id"].tolist()  # one row per query, dataset order
    assert df["split"].tolist() == DATA["split"].tolist()
    same(df["weak_score"].tolist(),
         [0.7, 0.0, 0.3, 0.9, NAN, 0.5, 1.0, 1.0, 0.0, 0.0, 0.5, NAN, 1.0, NAN, 1.0, 0.2, 1.0])
    same(df["strong_score"].tolist(),
         [0.7, 0.0, 0.8, 0.2, 0.5, NAN, NAN, 0.0, 1.0, 0.0, 1.0, 1.0, NAN, 1.0, NAN, 0.5, 0.0])
    assert df["weak_status"].tolist() == ["ok", "ok", "ok", "ok", "unparsed", "ok", "ok", "ok", "ok", "unparsed",
                                          "ok", "error", "ok", "missing", "ok", "ok", "ok"]
    assert df["strong_status"].tolist() == ["ok", "ok", "ok", "ok", "ok", "unparsed", "missing", "ok", "ok", "ok",
                                            "ok", "ok", "timeout", "ok", "missing", "ok", "ok"]
    assert df["judge_scored"].tolist() == [True] * 7 + [False] * 8 + [True, False]
    same(df["label"].tolist(), [
        1.0,  # o_tie: 0.7 >= 0.7, a tie means the weak answer was good enough
        1.0,  # o_tie0: 0.0 >= 0.0, also a tie
        0.0,  # o_lt: 0.3 < 0.8
        1.0,  # o_gt: 0.9 > 0.2
        NAN,  # o_nanw: weak judge verdict unparsed
        NAN,  # o_nans: strong judge verdict unparsed
        NAN,  # o_miss: no strong answer
        1.0,  # m_right: the weak score, whatever the strong model did
        0.0,  # m_wrong: the weak score (strong right)
        0.0,  # c_bothwrong: the weak score; an open task would have 1 (tie) here
        0.5,  # q_partial: partial credit passes through as the label
        NAN,  # m_nanw: weak scorer could not decide
        NAN,  # m_nans: strong scorer could not decide
        NAN,  # c_missw: no weak answer
        NAN,  # m_misss: no strong answer
        0.0,  # o_multi: sample 0 (0.2 vs 0.5); later samples (0.9, 1.0 vs 0.1) would give 1
        1.0,  # m_multi: sample 0 (1.0); sample 1 (0.0) would give 0
    ])
    assert df["usable"].tolist() == [True, True, True, True, False, False, False, True, True, True, True,
                                     False, False, False, False, True, True]
    assert df["usable"].dtype == bool and df["judge_scored"].dtype == bool


def test_labels_frame_does_not_depend_on_the_other_tables_row_order():
    """Ids are matched by value: shuffling the score tables (keeping each id's samples in order) changes nothing."""
    weak = WEAK.iloc[::-1].sort_values("sample", kind="stable")  # ids reversed, samples still 0, 1, 2
    strong = STRONG.sample(frac=1.0, random_state=3).sort_values("sample", kind="stable")
    pd.testing.assert_frame_equal(labels_frame(DATA, weak, strong), labels_frame(DATA, WEAK, STRONG))


def test_labels_frame_unscored_sample_0_is_not_replaced_by_a_later_sample():
    data = pd.DataFrame({"id": ["o", "m"], "split": ["test", "test"], "task": ["open", "math"]})
    weak = scores([("o", 0, NAN, "unparsed"), ("o", 1, 0.9, "ok"), ("m", 0, NAN, "error"), ("m", 1, 1.0, "ok")])
    strong = scores([("o", 0, 0.5, "ok"), ("m", 0, 0.0, "ok")])
    df = labels_frame(data, weak, strong)
    same(df["weak_score"].tolist(), [NAN, NAN])
    assert df["weak_status"].tolist() == ["unparsed", "error"]
    same(df["label"].tolist(), [NAN, NAN])
    assert df["usable"].tolist() == [False, False]


# --------------------------------------------------------------------------- downstream

# One math dataset: 7 train, 4 validation and 5 test queries; a 't*', 'v*', 'x*' prefix per split.
DS_DATA = pd.DataFrame({
    "id": ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "v1", "v2", "v3", "v4", "x1", "x2", "x3", "x4", "x5"],
    "split": ["train"] * 7 + ["validation"] * 4 + ["test"] * 5,
    "task": "math",
})
DS_WEAK = scores([
    ("t1", 0, 1.0, "ok"), ("t2", 0, 0.0, "ok"), ("t3", 0, NAN, "error"), ("t4", 0, 1.0, "ok"),
    ("t5", 0, 1.0, "ok"), ("t6", 0, 0.0, "ok"), ("t7", 0, 1.0, "ok"),
    ("v1", 0, 1.0, "ok"), ("v2", 0, 0.0, "ok"), ("v3", 0, 1.0, "ok"), ("v4", 0, 1.0, "ok"),
    ("x1", 0, 1.0, "ok"), ("x2", 0, 0.0, "ok"), ("x3", 0, 1.0, "ok"), ("x4", 0, 0.0, "ok"), ("x5", 0, NAN, "error"),
])
DS_STRONG = scores([
    ("t1", 0, 1.0, "ok"), ("t2", 0, 1.0, "ok"), ("t3", 0, 1.0, "ok"), ("t4", 0, 0.0, "ok"),
    # t5: no strong answer
    ("t6", 0, 0.0, "ok"), ("t7", 0, 1.0, "ok"),
    ("v1", 0, 1.0, "ok"), ("v2", 0, 1.0, "ok"), ("v3", 0, 0.0, "ok"),  # v4: no strong answer
    ("x1", 0, 1.0, "ok"), ("x2", 0, 1.0, "ok"), ("x3", 0, 1.0, "ok"), ("x4", 0, 1.0, "ok"), ("x5", 0, 1.0, "ok"),
])


@pytest.fixture()
def labels_path(tmp_path):
    """The `labels` rule's output for DS_*, written and read back as parquet like the workflow does."""
    path = tmp_path / "labels" / "mathset.parquet"
    path.parent.mkdir()
    write_frame(path, labels_frame(DS_DATA, DS_WEAK, DS_STRONG))
    return path


def test_unusable_rows_survive_the_parquet_round_trip_and_load_routing_data(labels_path):
    lab = read_frame(labels_path)
    assert lab["usable"].dtype == bool
    assert lab.loc[~lab["usable"], "id"].tolist() == ["t3", "t5", "v4", "x5"]
    rd, labels = load_routing_data([str(labels_path)], None, None, ["validation", "test"])
    # load_routing_data keeps every row of the splits (aligned with the features); callers filter on `usable`
    assert rd.ids == labels["id"].tolist() == ["v1", "v2", "v3", "v4", "x1", "x2", "x3", "x4", "x5"]
    assert labels["usable"].tolist() == [True, True, True, False, True, True, True, True, False]
    same(labels["label"].tolist(), [1.0, 0.0, 1.0, NAN, 1.0, 0.0, 1.0, 0.0, NAN])
    assert labels["dataset"].unique().tolist() == ["mathset"]


class _RecordingRouter(Router):
    """Records what it is fitted on; `save` writes that record instead of a pickle."""

    name = "recording_test_router"

    def _fit(self, data, y):
        self.seen_ = {"ids": list(data.ids), "y": [float(v) for v in y]}

    def score(self, data):
        return np.zeros(len(data))

    def save(self, path):
        Path(path).write_text(json.dumps(self.seen_))


def test_train_script_never_fits_on_unusable_rows(labels_path, tmp_path, monkeypatch):
    """workflow/scripts/train.py, run in-process with a stand-in `snakemake` object."""
    monkeypatch.setitem(ROUTERS, _RecordingRouter.name, _RecordingRouter)
    monkeypatch.setattr(runtime, "setup_logging", lambda log_file: runtime.log)  # leave pytest's logging alone
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # lease_gpus(0) sets it; restored afterwards
    out = tmp_path / "out"
    out.mkdir()
    inputs = {"labels": [str(labels_path)]}
    smk = SimpleNamespace(
        input=SimpleNamespace(get=inputs.get, **inputs),
        output=SimpleNamespace(router=str(out / "router.json"), info=str(out / "info.json")),
        log=[str(out / "train.log")],
        resources={"gpu": 0},
        params=SimpleNamespace(router={"kind": _RecordingRouter.name, "params": {}}, members=["mathset"]),
        wildcards=SimpleNamespace(train="mathset"),
    )
    runpy.run_path(str(ROOT / "workflow" / "scripts" / "train.py"), init_globals={"snakemake": smk})
    seen = json.loads((out / "router.json").read_text())
    assert seen == {"ids": ["t1", "t2", "t4", "t6", "t7"], "y": [1.0, 0.0, 1.0, 0.0, 1.0]}  # t3, t5 unusable
    info = json.loads((out / "info.json").read_text())
    assert (info["n_train"], info["n_excluded_unparsed"]) == (5, 2)
    assert info["positive_rate"] == pytest.approx(3 / 5)


def test_evaluate_predictions_excludes_unusable_rows(labels_path):
    _, pred = load_routing_data([str(labels_path)], None, None, ["validation", "test"])
    # router scores by id; the unusable rows get the most extreme scores so that, were they kept,
    # they would move the operating points and the AUROC
    router = {"v1": 0.8, "v2": 0.1, "v3": 0.7, "v4": 0.0, "x1": 0.9, "x2": 0.2, "x3": 0.4, "x4": 0.6, "x5": 1.0}
    pred["router_score"] = pred["id"].map(router)
    evaluation = {"lpm_band": [0.25, 0.30], "recovery_band": [0.85, 0.95], "grid": 11, "mode": "clean",
                  "bootstrap": 50}
    thresholds, metrics, curve = evaluate_predictions(pred, evaluation, [0.8], [0.5])
    assert (thresholds["n_validation"], thresholds["n_test"]) == (3, 4)  # v4 and x5 left out
    assert (metrics["n"], metrics["n_unparsed_excluded"]) == (4, 1)
    # usable test rows x1..x4: weak 1, 0, 1, 0; strong 1, 1, 1, 1
    assert metrics["weak_mean"] == pytest.approx(0.5)
    assert metrics["strong_mean"] == pytest.approx(1.0)
    # labels 1, 0, 1, 0 with scores 0.9, 0.2, 0.4, 0.6: 3 of the 4 (positive, negative) pairs are ordered
    assert metrics["auroc"] == pytest.approx(0.75)
    lo, hi = metrics["auroc_ci95"]
    assert not (math.isnan(lo) or math.isnan(hi))  # bootstrap labels are the usable ones (no NaN)
    assert len(curve) == 11
