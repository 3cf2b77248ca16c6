"""The gRPC baseline: a service doing what the worker does, over HTTP/2 on 127.0.0.1.

Two unary methods with raw-bytes messages (no protoc step; protobuf would add its own encoding cost
on top, so this is the cheapest gRPC can be):
    /bench.Bench/Noop   returns the request bytes
    /bench.Bench/Embed  request: one UTF-8 sentence; response: its 384 float32 values (little-endian)

    python -m bench.baselines.grpc_service [--embed] [--threads N] [--handler-threads K]

Prints ``PORT <n>`` on stdout once it serves (and, with --embed, once the model is loaded).
"""

from __future__ import annotations

import argparse
import sys
import threading
from concurrent import futures

import grpc

SERVICE = "bench.Bench"


def build_server(embedder: object | None, handler_threads: int) -> tuple[grpc.Server, int]:
    def noop(request: bytes, context: grpc.ServicerContext) -> bytes:
        return request

    def embed(request: bytes, context: grpc.ServicerContext) -> bytes:
        assert embedder is not None
        vector = embedder.embed([request.decode()])[0]  # type: ignore[attr-defined]
        return vector.numpy().astype("<f4").tobytes()

    handlers = {"Noop": grpc.unary_unary_rpc_method_handler(noop)}
    if embedder is not None:
        handlers["Embed"] = grpc.unary_unary_rpc_method_handler(embed)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=handler_threads),
        handlers=[grpc.method_handlers_generic_handler(SERVICE, handlers)],
        # Admit every concurrent client the benchmark opens; the executor bounds the work.
        maximum_concurrent_rpcs=None,
    )
    port = server.add_insecure_port("127.0.0.1:0")
    return server, port


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embed", action="store_true", help="load all-MiniLM-L6-v2 and serve Embed")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--handler-threads", type=int, default=4, help="threads running requests")
    args = parser.parse_args()
    embedder = None
    if args.embed:
        from bench.baselines.inprocess import MeanPoolEmbedder

        embedder = MeanPoolEmbedder(args.threads)
        embedder.embed(["warm up"])
    server, port = build_server(embedder, args.handler_threads)
    server.start()
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    # Serve until the benchmark closes our stdin (so a killed benchmark never leaves us behind).
    threading.Thread(target=lambda: (sys.stdin.read(), server.stop(0)), daemon=True).start()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
