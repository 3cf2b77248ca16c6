"""Method registry: handler families register their methods by name with a decorator.

    handlers = Handlers()

    @handlers.method("test/sleep")
    def sleep(params: SleepParams, ctx: RequestContext) -> SleepResult: ...

The params type is read from the first parameter's annotation; the dispatcher decodes params
straight into it (``msgspec.Raw`` means "pass the raw params through untouched"). ``inline``
methods are cheap and run on the reader thread itself, so they are never queued behind slow work
and are exempt from ``--max-inflight`` (``worker/ping``, ``$/cancelRequest``). ``stops`` methods
(``worker/shutdown``) are admitted whatever the load and run on a thread of their own: a stop must
get through a worker whose handler threads are all taken.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

HandlerFn = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Method:
    name: str
    fn: HandlerFn
    params_type: type
    inline: bool = False
    doc: str = ""
    stops: bool = False


class Handlers:
    """A family of methods (one module's worth)."""

    def __init__(self) -> None:
        self.methods: dict[str, Method] = {}

    def method(
        self, name: str, *, inline: bool = False, stops: bool = False
    ) -> Callable[[HandlerFn], HandlerFn]:
        def register(fn: HandlerFn) -> HandlerFn:
            hints = typing.get_type_hints(fn)
            first = next(iter(fn.__code__.co_varnames[: fn.__code__.co_argcount]))
            params_type = hints[first]
            if name in self.methods:
                raise ValueError(f"method {name!r} registered twice")
            doc = (fn.__doc__ or "").strip()
            self.methods[name] = Method(name, fn, params_type, inline, doc, stops)
            return fn

        return register


def merge(families: Iterable[Handlers]) -> dict[str, Method]:
    table: dict[str, Method] = {}
    for family in families:
        for name, method in family.methods.items():
            if name in table:
                raise ValueError(f"method {name!r} registered by two handler families")
            table[name] = method
    return table
