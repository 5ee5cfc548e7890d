"""Decision logs of ``routerlab route`` (routerlab.proxy) read back as a dataset.

The proxy appends one row per routed request to parquet part files in a log directory
(``decisions-<start>-<part>.parquet``, each written whole and renamed into place, so every
file on disk is a complete table). ``DECISION_COLUMNS`` is that schema; it lives here, in the
trunk, so that the dataset source (``source: decision_log``) and the proxy that writes the
logs agree on it without the trunk importing the proxy.

As a dataset, each distinct request (``request_hash``: what the router saw) is one row, its
first occurrence in log order; the record carries ``prompt`` (the last user message),
``messages`` (the whole conversation, JSON) and the live decision (``router_score``,
``chosen``), so a config reads recorded traffic with the generic format::

    datasets:
      traffic:
        source: decision_log
        path: logs/decisions            # a log directory or one part file
        format: generic
        task: open
        columns: {prompt: prompt, id: request_hash}
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from routerlab.core.io import read_frame

from ._core import DatasetError
from ._formats import Format
from ._readers import RawRow

DECISION_LOG_VERSION = 1
DECISION_COLUMNS = (
    "request_id",  # unique per request (uuid4): a retried client request is a new id
    "request_hash",  # sha256 of the routed content (endpoint + messages): equal questions, equal hash
    "time",  # unix seconds when the request arrived
    "endpoint",  # chat | completions
    "messages",  # JSON list of {role, content}: what the router scored
    "prompt",  # the last user message
    "router",  # the router's description (name and hyper-parameters, JSON)
    "router_score",  # binary: weak confidence (higher = weak); kmodel: probability of the chosen model
    "threshold",  # binary: escalate iff score <= threshold; NaN for K-model routers
    "routed_to",  # the model the router chose
    "chosen",  # the model that answered (differs from routed_to after a fail-over); "" if none did
    "status",  # HTTP status returned to the client
    "attempts",  # upstream attempts in all (retries and fail-over included)
    "error",  # the last upstream error ("" if none)
    "routing_latency_s",  # feature extraction + scoring, queueing in the micro-batcher included
    "latency_s",  # the whole request as the proxy saw it
    "prompt_tokens",  # from the upstream's usage (-1 when it reported none)
    "completion_tokens",
    "cost_usd",  # tokens x the answering model's prices (0 without prices)
)


def decision_log_files(path: str | Path) -> list[Path]:
    """Part files of a decision log (a directory, in name order = write order) or one part file."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise DatasetError(f"{p}: no decision log here (expected a directory of decisions-*.parquet parts written "
                           "by `routerlab route --decision-log`, or one such file)")
    files = sorted(f for f in p.glob("decisions-*.parquet") if not f.name.startswith("."))
    if not files:
        raise DatasetError(f"{p}: no decisions-*.parquet parts; has the proxy answered a request yet? (parts are "
                           "written every --log-flush-rows rows or --log-flush-s seconds, and at shutdown)")
    return files


def read_decision_log(path: str | Path) -> pd.DataFrame:
    """Every decision of a log, in write order."""
    frames = [read_frame(f) for f in decision_log_files(path)]
    df = pd.concat(frames, ignore_index=True)
    missing = [c for c in DECISION_COLUMNS if c not in df.columns]
    if missing:
        raise DatasetError(f"{path}: not a routerlab decision log (columns {missing} missing)")
    return df


def decision_log_rows(name: str, spec: Mapping[str, Any], fmt: Format) -> Iterator[RawRow]:
    """Dataset source ``decision_log``: one record per distinct request of a log."""
    path = spec.get("path")
    if not path:
        raise DatasetError(f"dataset {name!r}: source decision_log needs `path:` (the proxy's --decision-log "
                           "directory, or one of its part files)")
    df = read_decision_log(Path(str(path)).expanduser())
    df = df.drop_duplicates("request_hash", keep="first").reset_index(drop=True)
    for i, rec in enumerate(df.to_dict("records")):
        rec["messages"] = json.loads(rec["messages"]) if isinstance(rec["messages"], str) else rec["messages"]
        yield RawRow(data=rec, file=str(path), index=i, source=f"decision_log:{path}#{fmt.name}")
