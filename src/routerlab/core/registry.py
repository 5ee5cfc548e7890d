"""A generic name -> entry registry: each branch owns one for its routers; metric_index holds the metrics.

    ROUTERS = Registry("binary router")
    @ROUTERS.register
    class MyRouter(Router): name = "mine"
    ROUTERS.make("mine", **params)

Unknown names list the registered ones and, when another registry knows the name, say which.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any, Callable

# Every registry by what it holds, so an unknown name can point at the registry that knows it.
REGISTRIES: dict[str, "Registry"] = {}


class Registry(MutableMapping):
    """Name -> entry (a class, or any object with a ``name``); ``register`` works as a decorator."""

    def __init__(self, what: str, entries: Iterable[Any] = (), hint: Callable[[str], str] | None = None) -> None:
        self.what = what
        self._entries: dict[str, Any] = {}
        self._hint = hint
        REGISTRIES[what] = self
        for entry in entries:
            self.register(entry)

    def register(self, entry: Any, name: str | None = None) -> Any:
        name = name or entry.name
        if self._entries.get(name, entry) is not entry:
            old = self._entries[name]
            raise ValueError(f"a {self.what} named {name!r} is already registered "
                             f"({getattr(old, '__name__', old)!r})")
        self._entries[name] = entry
        return entry

    def get_entry(self, name: str) -> Any:
        try:
            return self._entries[name]
        except KeyError:
            elsewhere = [r.what for r in REGISTRIES.values() if r is not self and name in r._entries]
            hint = self._hint(elsewhere[0]) if self._hint and elsewhere else ""
            where = f" ({name!r} is a {elsewhere[0]}{hint})" if elsewhere else ""
            raise ValueError(f"unknown {self.what} {name!r}; registered: {sorted(self._entries)}{where}") from None

    def make(self, name: str, **params: Any) -> Any:
        cls = self.get_entry(name)
        try:
            return cls(**params)
        except TypeError as e:
            raise ValueError(f"{self.what} {name!r}: bad parameters {params} ({e})") from None

    def __getitem__(self, name: str) -> Any:
        return self._entries[name]

    def __setitem__(self, name: str, entry: Any) -> None:
        self._entries[name] = entry

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {sorted(self._entries)})"
