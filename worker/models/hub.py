"""Downloads from the hub with deadlines: no network step of a model/load waits for ever.

huggingface_hub's shared HTTP client is built with no timeout, and the first calls snapshot_download
makes (``repo_info``, ``list_repo_tree``) pass none, so a hub that accepts the connection and then
says nothing (a stalled proxy, a captive portal) held a model/load for ever. Two bounds, each where
it belongs:

- every request: its connect, read, write and pool timeouts are capped at ``timeout`` by a request
  hook on the library's client (``set_client_factory``, the library's own knob). Hooks run before
  any transport, so proxies taken from the environment are bounded too.
- the whole download: it runs on a thread of its own and the load waits only while it progresses
  (a file done, or 64 KiB more received, as the library reports to ``tqdm_class`` for HTTP and Xet
  transfers alike). ``timeout`` seconds without progress, counted from the start, and the load
  fails with ModelNotFound naming the step it was waiting on. A slow but steady download is never
  cut short; a stall or a trickle is.

A download given up on cannot be killed (it is a thread), so it is left to end on its own and made
harmless: it only writes the HuggingFace cache, through the library's locks and ``.incomplete``
files, its result is dropped, and each request it makes still has its timeouts. At most
``MAX_ABANDONED`` such threads may be alive; past that, a hub download is refused at once with
ModelNotFound until one of them ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.errors import Forbidden, ModelNotFound

log = logging.getLogger("worker.models")

# Received bytes that count as progress; a trickle below this per timeout window is a stall.
PROGRESS_BYTES = 64 * 1024
MAX_ABANDONED = 4
_POLL_SECONDS = 0.1
_TIMEOUT_NAMES = ("ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutError")


@dataclass(eq=False)
class _Download:
    model: str
    started: float = field(default_factory=time.monotonic)
    step: str = "connecting to the hub"
    last_progress: float = field(default_factory=time.monotonic)
    bytes_since: int = 0
    abandoned: bool = False
    result: Path | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def progressed(self, nbytes: int, files: int) -> None:
        with self.lock:
            self.bytes_since += nbytes
            if files or self.bytes_since >= PROGRESS_BYTES:
                self.bytes_since = 0
                self.last_progress = time.monotonic()

    def saw_request(self, method: str, url: str) -> None:
        with self.lock:
            self.step = f"{method} {url}"


_active: list[_Download] = []
_abandoned: list[threading.Thread] = []
_registry_lock = threading.Lock()
_installed_timeout: float | None = None


def download(
    model: str,
    *,
    revision: str | None,
    token: str | bool | None,
    timeout: float,
    ignore_patterns: list[str],
) -> Path:
    """snapshot_download ``model`` within the deadlines above; ModelNotFound names what timed out."""
    install_timeouts(timeout)
    job = _Download(model)
    with _registry_lock:
        _prune_abandoned()
        if len(_abandoned) >= MAX_ABANDONED:
            raise ModelNotFound(
                f"model {model!r} cannot be downloaded now: {len(_abandoned)} earlier downloads are still "
                "stuck on the network",
                data={"model": model},
            )
        _active.append(job)
    thread = threading.Thread(
        target=_fetch,
        args=(job, revision, token, timeout, ignore_patterns),
        name=f"hub-download {model}",
        daemon=True,
    )
    thread.start()
    try:
        while not job.done.wait(_POLL_SECONDS):
            with job.lock:
                stalled = time.monotonic() - job.last_progress
                step = job.step
            if stalled >= timeout:
                with _registry_lock:
                    job.abandoned = True
                    _abandoned.append(thread)
                log.warning("gave up downloading %s: no progress for %.1f s (%s)", model, stalled, step)
                raise ModelNotFound(
                    f"model {model!r} could not be downloaded: the hub made no progress for {timeout:g} s "
                    f"(--hub-timeout) while waiting on {step}",
                    data={"model": model, "step": step, "timeout_seconds": timeout},
                )
    finally:
        with _registry_lock:
            _active.remove(job)
    if job.error is not None:
        raise _explain(model, job, timeout) from None
    assert job.result is not None
    return job.result


def stuck_downloads() -> int:
    """Downloads given up on whose threads are still alive."""
    with _registry_lock:
        _prune_abandoned()
        return len(_abandoned)


def install_timeouts(timeout: float) -> None:
    """Cap every request huggingface_hub makes at ``timeout`` seconds per network step."""
    global _installed_timeout
    import huggingface_hub

    set_factory = getattr(huggingface_hub, "set_client_factory", None)
    if set_factory is None or _installed_timeout == timeout:
        # huggingface_hub < 1.0 has no client factory; the watchdog in download() still bounds the load.
        return
    from huggingface_hub.utils import _http

    base_factory: Callable[[], Any] = _http.default_client_factory

    def bounded_client() -> Any:
        client = base_factory()
        client.timeout = timeout
        client.event_hooks["request"].append(_request_hook(timeout))
        return client

    set_factory(bounded_client)
    _installed_timeout = timeout


def _request_hook(timeout: float) -> Callable[[Any], None]:
    def cap(request: Any) -> None:
        # The library passes timeout=None on some calls, which overrides the client's default.
        asked = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            name: timeout if asked.get(name) is None else min(float(asked[name]), timeout)
            for name in ("connect", "read", "write", "pool")
        }
        url = request.url.copy_with(query=None)
        path = f"{url.path}/"
        with _registry_lock:
            jobs = list(_active)
        # A request names its model in the path; one that names none (the library's own metadata
        # requests) is a step of every download under way.
        mine = [job for job in jobs if f"/{job.model}/" in path] or jobs
        for job in mine:
            job.saw_request(request.method, str(url))

    return cap


def _fetch(
    job: _Download, revision: str | None, token: str | bool | None, timeout: float, ignore: list[str]
) -> None:
    from huggingface_hub import snapshot_download

    try:
        found = snapshot_download(
            job.model,
            revision=revision,
            token=token,
            ignore_patterns=ignore,
            etag_timeout=timeout,
            tqdm_class=_progress_bar_class(job),
        )
        job.result = Path(str(found))
    except BaseException as exc:  # handed to the waiting load, or logged if it gave up
        job.error = exc
        if job.abandoned:
            log.info("abandoned download of %s ended: %s", job.model, exc.__class__.__name__)
    finally:
        job.done.set()


def _progress_bar_class(job: _Download) -> type:
    """A tqdm class that reports bytes and finished files to ``job`` (and draws what the library draws)."""
    from huggingface_hub.utils import tqdm as hf_tqdm

    class ProgressBar(hf_tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._counts_bytes = kwargs.get("unit") == "B"
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            amount = int(n or 0)
            if self._counts_bytes:
                job.progressed(amount, 0)
            else:
                job.progressed(0, amount)
            result: bool | None = super().update(n)
            return result

    return ProgressBar


def _explain(model: str, job: _Download, timeout: float) -> Exception:
    from huggingface_hub import errors as hub_errors

    exc = job.error
    timed_out = _timeout_in(exc)
    if timed_out is not None:
        return ModelNotFound(
            f"model {model!r} could not be downloaded: {job.step} timed out "
            f"({timed_out.__class__.__name__} after {timeout:g} s, --hub-timeout)",
            data={"model": model, "step": job.step, "timeout_seconds": timeout},
        )
    if isinstance(exc, hub_errors.GatedRepoError):
        return Forbidden(f"model {model!r} is gated: accept its terms and pass a token ({exc})")
    if isinstance(exc, (hub_errors.RepositoryNotFoundError, hub_errors.RevisionNotFoundError)):
        return ModelNotFound(f"model {model!r} not found on the hub: {exc}", data={"model": model})
    if isinstance(exc, (hub_errors.HfHubHTTPError, OSError)):
        return ModelNotFound(f"model {model!r} could not be downloaded: {exc}", data={"model": model})
    assert exc is not None
    return exc if isinstance(exc, Exception) else RuntimeError(repr(exc))


def _timeout_in(exc: BaseException | None) -> BaseException | None:
    """The network timeout behind ``exc``, if any (the library wraps them: cause, then context)."""
    seen = 0
    while exc is not None and seen < 16:
        if type(exc).__name__ in _TIMEOUT_NAMES or isinstance(exc, TimeoutError):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _prune_abandoned() -> None:
    _abandoned[:] = [thread for thread in _abandoned if thread.is_alive()]
