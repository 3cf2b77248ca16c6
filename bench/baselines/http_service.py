"""The HTTP baseline: a FastAPI app under uvicorn (uvloop, httptools), one process, on 127.0.0.1.

    POST /noop   returns the request body
    POST /embed  body: one UTF-8 sentence; answer: its embedding as a JSON list of floats

The no-op is an ``async`` endpoint (no thread hop: the cheapest FastAPI can be). Inference runs on a
pool of ``--handler-threads`` threads, as a sync endpoint would, so the event loop stays free.

    python -m bench.baselines.http_service [--embed] [--threads N] [--handler-threads K]

Prints ``PORT <n>`` on stdout once it serves (and, with --embed, once the model is loaded).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import threading
from concurrent import futures

import uvicorn
from fastapi import FastAPI, Request, Response


def build_app(embedder: object | None, handler_threads: int) -> FastAPI:
    app = FastAPI()
    pool = futures.ThreadPoolExecutor(max_workers=handler_threads)

    @app.post("/noop")
    async def noop(request: Request) -> Response:
        return Response(await request.body(), media_type="application/octet-stream")

    if embedder is not None:

        def embed_one(text: str) -> list[float]:
            return embedder.embed([text])[0].tolist()  # type: ignore[attr-defined, no-any-return]

        @app.post("/embed")
        async def embed(request: Request) -> list[float]:
            text = (await request.body()).decode()
            return await asyncio.get_running_loop().run_in_executor(pool, embed_one, text)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embed", action="store_true", help="load all-MiniLM-L6-v2 and serve /embed")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--handler-threads", type=int, default=4, help="threads running inference")
    args = parser.parse_args()
    embedder = None
    if args.embed:
        from bench.baselines.inprocess import MeanPoolEmbedder

        embedder = MeanPoolEmbedder(args.threads)
        embedder.embed(["warm up"])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        build_app(embedder, args.handler_threads),
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        backlog=256,
        # The benchmark's clients keep their connections across rounds; uvicorn's 5 s default
        # would close them while another contender takes its turn.
        timeout_keep_alive=600,
    )
    server = uvicorn.Server(config)

    def announce_then_watch_stdin() -> None:
        while not server.started:
            threading.Event().wait(0.01)
        sys.stdout.write(f"PORT {port}\n")
        sys.stdout.flush()
        sys.stdin.read()  # the benchmark closed our stdin: stop
        server.should_exit = True

    threading.Thread(target=announce_then_watch_stdin, daemon=True).start()
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
