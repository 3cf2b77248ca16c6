"""Protocol errors: every error a client can see, each carrying its JSON-RPC code.

    RpcError                      (abstract: never raised itself)
    ├── ParseError                -32700  the frame is not valid JSON / MessagePack
    ├── InvalidRequest            -32600  valid data, but not a JSON-RPC 2.0 request
    ├── MethodNotFound            -32601
    ├── InvalidParams             -32602  params do not match the method's schema
    ├── InternalError             -32603  a bug in the worker (never raised on purpose)
    ├── RequestCancelled          -32800  the client sent $/cancelRequest
    └── WorkerError               -32000  an application error raised by handler code
        ├── Overloaded            -32001  more than --max-inflight requests in flight
        ├── FrameTooLarge         -32002  a frame over --max-frame-bytes (skipped, stream kept)
        ├── ShuttingDown          -32003  worker/shutdown is under way
        ├── UnknownHandle         -32004  a model or tensor handle that does not exist (or was freed)
        ├── ModelNotFound         -32005  a model id or folder that cannot be found or fetched
        ├── InvalidInput          -32006  inputs that cannot be decoded (corrupt audio, image, tensor bytes)
        ├── Forbidden             -32007  refused by the worker's start-up policy (trust_remote_code,
        │                                 a path outside --input-root or in /proc, /sys)
        ├── ResourceExhausted     -32008  out of memory, or past a memory bound (tensor budget, input
        │                                 size, image pixels) checked before allocating
        └── UnsupportedTask       -32009  a task this model or this worker cannot run

Exceptions that are not RpcError are internal: the dispatcher turns them into WorkerError (-32000)
when they come from handler code, so a transformers ValueError reaches the client with its type and
message instead of killing the worker; ``is_out_of_memory`` picks out the ones that mean memory ran
out (MemoryError, torch's CPU and CUDA allocators), answered ResourceExhausted (-32008) instead.

Error messages often quote what the client sent (a method name, an unknown member, a handle), so
every message is bounded: ``shorten`` keeps the head and tail of a text and says how long it was.
``quote`` shortens one quoted value much further, for messages that name what they refuse.
"""

from __future__ import annotations

from typing import Any, ClassVar

# A whole error message (error.message, error.data.message) and one quoted value in it, in characters.
MAX_MESSAGE_CHARS = 1024
MAX_QUOTE_CHARS = 128
# A --debug traceback: long enough for a deep stack, not for a quoted 10 MB string.
MAX_TRACEBACK_CHARS = 16384


def shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` if it fits in ``limit`` characters; else its head and tail around a marker giving
    its length, ``limit`` characters in all (the tail often says where: msgspec's ``- at `$.x```)."""
    if len(text) <= limit:
        return text
    marker = f"...[{len(text)} characters, shortened]..."
    keep = max(limit - len(marker), 0)
    head = keep - keep // 3
    return text[:head] + marker + text[len(text) - (keep - head) :] if keep else marker[:limit]


def quote(value: object, limit: int = MAX_QUOTE_CHARS) -> str:
    """A client-supplied value for an error message: its text, shortened to ``limit`` characters."""
    return shorten(value if isinstance(value, str) else repr(value), limit)


def bounded(value: Any) -> Any:
    """A member of an error's data with its strings shortened, at any depth (they may quote input)."""
    if isinstance(value, str):
        return shorten(value)
    if isinstance(value, dict):
        return {key: bounded(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [bounded(item) for item in value]
    return value


class RpcError(Exception):
    """An error that is answered on the wire with ``code`` and ``message``.

    The message is bounded here (``shorten``), whoever built it and whatever it quotes."""

    code: ClassVar[int] = -32000

    def __init__(self, message: str, *, data: dict[str, Any] | None = None) -> None:
        message = shorten(message)
        super().__init__(message)
        self.message = message
        self.data = data


class ParseError(RpcError):
    code = -32700


class InvalidRequest(RpcError):
    code = -32600


class MethodNotFound(RpcError):
    code = -32601


class InvalidParams(RpcError):
    code = -32602


class InternalError(RpcError):
    code = -32603


class RequestCancelled(RpcError):
    code = -32800

    def __init__(self, message: str = "request cancelled", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class WorkerError(RpcError):
    code = -32000


class Overloaded(WorkerError):
    code = -32001


class FrameTooLarge(WorkerError):
    code = -32002
    # The first bytes of an incoming frame that was dropped, when framing kept them: the request's
    # id may be read from them (worker.rpc.frame_head), so that its answer is not id null.
    head: bytes | None = None


class ShuttingDown(WorkerError):
    code = -32003


class UnknownHandle(WorkerError):
    code = -32004


class ModelNotFound(WorkerError):
    code = -32005


class InvalidInput(WorkerError):
    code = -32006


class Forbidden(WorkerError):
    code = -32007


class ResourceExhausted(WorkerError):
    code = -32008


class UnsupportedTask(WorkerError):
    code = -32009


ALL_ERRORS: tuple[type[RpcError], ...] = (
    ParseError,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    InternalError,
    RequestCancelled,
    WorkerError,
    Overloaded,
    FrameTooLarge,
    ShuttingDown,
    UnknownHandle,
    ModelNotFound,
    InvalidInput,
    Forbidden,
    ResourceExhausted,
    UnsupportedTask,
)


# What torch's allocators say when memory runs out. On the CPU this is a plain RuntimeError from
# c10's alloc_cpu.cpp ("[enforce fail at alloc_cpu.cpp:127] ... DefaultCPUAllocator: can't allocate
# memory: you tried to allocate N bytes"; "... not enough memory: ..." where posix_memalign is not
# used); on CUDA it is torch.OutOfMemoryError (also torch.cuda.OutOfMemoryError), while some CUDA
# and cuBLAS paths raise a RuntimeError with their own status text.
_TORCH_OOM_MARKERS = (
    "DefaultCPUAllocator: can't allocate memory",
    "DefaultCPUAllocator: not enough memory",
    "CUDA out of memory",
    "CUDA error: out of memory",
    "MPS backend out of memory",
    "CUBLAS_STATUS_ALLOC_FAILED",
    "CUDNN_STATUS_ALLOC_FAILED",
)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an exception means memory ran out, here or in what caused it (a library that wraps
    torch's error in its own keeps it as ``__cause__`` or ``__context__``).

    By name and message, so that torch is never imported to ask: the worker runs without it.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        if isinstance(current, MemoryError):
            return True
        if any(cls.__name__ == "OutOfMemoryError" for cls in type(current).__mro__):
            return True
        if isinstance(current, RuntimeError) and any(m in str(current) for m in _TORCH_OOM_MARKERS):
            return True
        current = current.__cause__ or current.__context__
    return False
