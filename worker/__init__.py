"""hf-worker: a long-lived Python process that serves HuggingFace models to a host over JSON-RPC 2.0.

The package is layered the way a message travels:

- ``worker.transport``  bytes in and out (stdio with a guarded stdout, or a named pipe)
- ``worker.rpc``        framing (bytes to frames) and codec (frames to typed messages)
- ``worker.runtime``    dispatch, in-flight bookkeeping, cancellation, progress, life cycle
- ``worker.handlers``   the methods themselves, one module per family

Nothing here imports torch or transformers at start: handlers import them on first use.
"""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
