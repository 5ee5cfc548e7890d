"""The decision log: one parquet row per routed request, appended in batches.

Rows are buffered and flushed every ``flush_rows`` rows or ``flush_s`` seconds (and at
close). Each flush writes one new part file, whole, through ``core.io.write_frame`` (a
temporary file renamed into place), and no part is ever rewritten: a reader or a kill at any
moment sees complete parquet files only, and a reader that opens a part twice (pyarrow's
dataset reader does) cannot see it change in between. Parts are
``decisions-<start time>-<part>.parquet``; name order is write order, and
``datasets.decision_logs`` reads them back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

from routerlab.core.io import write_frame
from routerlab.datasets.decision_logs import DECISION_COLUMNS, DECISION_LOG_VERSION

log = logging.getLogger(__name__)


def request_hash(endpoint: str, messages: list[dict]) -> str:
    """What the router saw, hashed: the same conversation on the same endpoint gives the same hash."""
    canonical = json.dumps({"endpoint": endpoint, "messages": messages}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class DecisionLog:
    """Thread-safe buffered appender of decision rows (``DECISION_COLUMNS``)."""

    def __init__(self, directory: str | Path, flush_rows: int = 256, flush_s: float = 5.0):
        if flush_rows < 1:
            raise ValueError(f"decision log: flush_rows must be >= 1, got {flush_rows}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.flush_rows, self.flush_s = flush_rows, flush_s
        # Microseconds: a proxy restarted within the same second does not reuse part names.
        self._start = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"{time.time() % 1:.6f}"[1:].replace(".", "")
        self._part = 0
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards _pending
        self._flush_lock = threading.Lock()  # one writer at a time
        self._last_flush = time.monotonic()
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._flush_periodically, daemon=True, name="decision-log")
        self._timer.start()
        self.rows_written = 0

    def _part_path(self) -> Path:
        return self.directory / f"decisions-{self._start}-{self._part:05d}.parquet"

    def append(self, row: dict[str, Any]) -> None:
        unknown = set(row) - set(DECISION_COLUMNS)
        missing = set(DECISION_COLUMNS) - set(row)
        if unknown or missing:
            raise ValueError(f"decision row: unknown fields {sorted(unknown)}, missing {sorted(missing)}")
        with self._lock:
            self._pending.append(row)
            due = len(self._pending) >= self.flush_rows
        if due:
            self.flush()

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            self._last_flush = time.monotonic()
            if not batch:
                return
            frame = pd.DataFrame(batch, columns=list(DECISION_COLUMNS))
            try:
                write_frame(self._part_path(), frame, meta={"decision_log_version": DECISION_LOG_VERSION})
            except Exception:
                with self._lock:  # keep the rows for the next flush
                    self._pending[:0] = batch
                raise
            self._part += 1
            self.rows_written += len(batch)

    def _flush_periodically(self) -> None:
        while not self._stop.wait(min(self.flush_s, 0.5)):
            if self._pending and time.monotonic() - self._last_flush >= self.flush_s:
                try:
                    self.flush()
                except Exception:  # a full disk must not kill the timer; the next flush retries
                    log.exception("decision log: flush to %s failed", self.directory)

    def close(self) -> None:
        self._stop.set()
        self._timer.join(timeout=5)
        self.flush()
