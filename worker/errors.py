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
        ├── Forbidden             -32007  refused by the worker's start-up policy (trust_remote_code)
        ├── ResourceExhausted     -32008  out of memory while loading or running
        └── UnsupportedTask       -32009  a task this model or this worker cannot run

Exceptions that are not RpcError are internal: the dispatcher turns them into WorkerError (-32000)
when they come from handler code, so a transformers ValueError reaches the client with its type and
message instead of killing the worker.
"""

from __future__ import annotations

from typing import Any, ClassVar


class RpcError(Exception):
    """An error that is answered on the wire with ``code`` and ``message``."""

    code: ClassVar[int] = -32000

    def __init__(self, message: str, *, data: dict[str, Any] | None = None) -> None:
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
