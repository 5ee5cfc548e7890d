"""Prometheus text-format metrics (exposition format 0.0.4), written by hand: counters and
histograms with labels, thread-safe, no dependency."""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    esc = (str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for v in values)
    return "{" + ",".join(f'{n}="{v}"' for n, v in zip(names, esc)) + "}"


def _num(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


class Counter:
    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()):
        self.name, self.help, self.label_names = name, help_text, labels
        self.values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, *labels: str, by: float = 1.0) -> None:
        with self._lock:
            self.values[labels] = self.values.get(labels, 0.0) + by

    def get(self, *labels: str) -> float:
        return self.values.get(labels, 0.0)

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            out += [f"{self.name}{_labels(self.label_names, k)} {_num(v)}" for k, v in sorted(self.values.items())]
        return out


class Histogram:
    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = (), buckets=LATENCY_BUCKETS):
        self.name, self.help, self.label_names, self.buckets = name, help_text, labels, tuple(buckets)
        self.values: dict[tuple[str, ...], list] = {}  # labels -> [bucket counts..., sum, count]
        self._lock = threading.Lock()

    def observe(self, value: float, *labels: str) -> None:
        with self._lock:
            row = self.values.setdefault(labels, [0] * len(self.buckets) + [0.0, 0])
            i = bisect.bisect_left(self.buckets, value)
            if i < len(self.buckets):
                row[i] += 1
            row[-2] += value
            row[-1] += 1

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            for key, row in sorted(self.values.items()):
                cum = 0
                for b, c in zip(self.buckets, row):
                    cum += c
                    out.append(f"{self.name}_bucket{_labels(self.label_names + ('le',), key + (_num(b),))} {cum}")
                out.append(f"{self.name}_bucket{_labels(self.label_names + ('le',), key + ('+Inf',))} {row[-1]}")
                out.append(f"{self.name}_sum{_labels(self.label_names, key)} {_num(row[-2])}")
                out.append(f"{self.name}_count{_labels(self.label_names, key)} {row[-1]}")
        return out


class Gauge:
    """A value read when rendered."""

    def __init__(self, name: str, help_text: str, read: Callable[[], float]):
        self.name, self.help, self.read = name, help_text, read

    def render(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge", f"{self.name} {_num(self.read())}"]


class ProxyMetrics:
    def __init__(self, call_rate: Callable[[], float], target: Callable[[], float], threshold: Callable[[], float]):
        p = "routerlab_proxy_"
        self.requests = Counter(p + "requests_total", "Requests answered, by endpoint and HTTP status.",
                                ("endpoint", "status"))
        self.decisions = Counter(p + "decisions_total", "Routing decisions, by the model the router chose.",
                                 ("model",))
        self.answered = Counter(p + "answered_total", "Requests answered, by the model that answered.", ("model",))
        self.upstream_errors = Counter(p + "upstream_errors_total", "Failed upstream attempts, by model and kind.",
                                       ("model", "kind"))
        self.failovers = Counter(p + "failovers_total", "Requests answered by another model than the router chose.",
                                 ("from_model", "to_model"))
        self.latency = Histogram(p + "request_seconds", "Whole-request latency seen by the proxy.", ("endpoint",))
        self.routing = Histogram(p + "routing_seconds", "Feature extraction and scoring, queueing included.")
        self.upstream = Histogram(p + "upstream_seconds", "Upstream time of answered requests.", ("model",))
        self.gauges = [
            Gauge(p + "call_rate_window", "Share of the sliding window's decisions sent to the strong model.", call_rate),
            Gauge(p + "call_rate_target", "Target call rate (NaN when the threshold was given directly).", target),
            Gauge(p + "threshold", "Escalate to the strong model iff router score <= threshold.", threshold),
        ]

    def render(self) -> str:
        parts = [self.requests, self.decisions, self.answered, self.upstream_errors, self.failovers, self.latency,
                 self.routing, self.upstream, *self.gauges]
        return "\n".join(line for m in parts for line in m.render()) + "\n"
