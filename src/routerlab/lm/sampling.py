"""Sampling parameters every generation backend takes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 32
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    n: int = 1  # samples per prompt (self-based routers need several)
    seed: int = 0
    logprobs: bool = False  # also record each response's mean token log-probability (untempered)

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None) -> "SamplingParams":
        cfg = dict(cfg or {})
        unknown = set(cfg) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"sampling: unknown keys {sorted(unknown)}; expected {sorted(cls.__dataclass_fields__)}")
        return cls(**cfg)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
