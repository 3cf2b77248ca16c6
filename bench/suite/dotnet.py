"""The C# host as a latency contender: a small C# program (bench/dotnet/HostPingBench.cs) compiled with
mcs against the dotnet-host library, timing ``worker/ping`` through ``WorkerProcess.InvokeAsync``.
"""

from __future__ import annotations

from collections.abc import Callable


class HostContender:
    def __init__(self, round_trips: Callable[[int], list[float]] | None, reason: str = "") -> None:
        self._round_trips = round_trips
        self.reason = reason

    @property
    def available(self) -> bool:
        return self._round_trips is not None

    def round_trips(self, calls: int) -> list[float]:
        assert self._round_trips is not None
        return self._round_trips(calls)

    def close(self) -> None:
        pass


def contender() -> HostContender:
    return HostContender(None, "the C# host library is not built yet (no dotnet-host/build.sh)")
