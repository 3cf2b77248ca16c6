"""Coverage-guided fuzzing of framing, codec and dispatch with atheris (libFuzzer for Python); not run in CI.

Each framing/encoding pair is fuzzed for ``--seconds`` in a child process of its own (libFuzzer ends
its process when time is up). The target, bench/fuzz_target.py, runs the worker's real read loop,
Dispatcher and FrameWriter in memory and checks, per input: nothing escapes the read loop, every
frame written parses and fits ``--max-frame-bytes``, every request is answered exactly once, error
messages stay bounded, and a ping after the input is answered. worker.rpc and worker.runtime are
instrumented for coverage.

The corpus starts from seeds written here: protocol.md's example requests and the attack shapes of
issue 9 (a 5,000-digit Content-Length, a batch of 20,000 non-objects, invalid UTF-8 in a MessagePack
key, a length prefix announcing 268 MB, duplicate ids across inline and handler methods, 10,000-byte
method names and keys). New inputs libFuzzer keeps go to the same folder, so a later run resumes.

A broken promise is written to the artifacts folder (``crash-<signature>`` with the input,
``.txt`` with the traceback) and fuzzing goes on with a fresh target; each distinct cause is saved
once. ``--stop-on-crash`` stops at the first instead, as libFuzzer does.

    .venv/bin/python -m pip install -e '.[fuzz]'
    .venv/bin/python bench/fuzz.py --seconds 600 [--framing lsp] [--encoding json] [--corpus DIR]

The last line of output is one JSON object: executions, coverage (libFuzzer's final ``cov:``
edges and ``ft:`` features) and crashes, per run and in total.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.docs.markdown_blocks import blocks  # noqa: E402
from tests.e2e.wire import Wire  # noqa: E402

RAW, FRAMES = b"\x00", b"\x01"  # the first byte of an input: see bench/fuzz_target.py
SEPARATOR = b"\xc1"
COMBINATIONS = [
    ("length", "msgpack"),
    ("length", "json"),
    ("lsp", "msgpack"),
    ("lsp", "json"),
    ("ndjson", "json"),
]
DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "hf-worker-fuzz"


# ---- seeds ----------------------------------------------------------------------------------------


def protocol_examples() -> list[bytes]:
    """Every frame sent in protocol.md's ```jsonrpc examples, as written (one is malformed on purpose)."""
    sent = []
    for block in blocks(ROOT / "protocol.md"):
        if block.kind == "jsonrpc":
            sent += [line[4:].encode() for line in block.body.splitlines() if line.startswith("--> ")]
    return sent


def _reencode(wire: Wire, example: bytes) -> bytes:
    """A JSON example in the wire's encoding; one that is not JSON stays as it is."""
    try:
        return wire.encode(json.loads(example))
    except ValueError:
        return example


def _request(id: Any, method: str, params: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def seeds(framing: str, encoding: str) -> dict[str, bytes]:
    """Seed inputs by name, for one framing and encoding."""
    wire = Wire("stdio", framing, encoding)

    def frames(*payloads: bytes) -> bytes:
        return FRAMES + SEPARATOR.join(payloads)

    def raw(*payloads: bytes) -> bytes:
        return RAW + b"".join(wire.wrap(p) for p in payloads)

    examples = [_reencode(wire, m) for m in protocol_examples()]
    out = {f"protocol-{i:02d}": frames(p) for i, p in enumerate(examples)}
    out["protocol-all-frames"] = frames(*examples)
    out["protocol-all-raw"] = raw(*examples)
    echo = _request(7, "test/echo", {"value": [1, "two", {"three": 3.0}], "progressToken": "t"})
    out["echo-and-cancel"] = frames(
        wire.encode(echo),
        wire.encode({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 7}}),
    )
    out["batch-mixed"] = frames(
        wire.encode([_request(1, "worker/ping"), 5, {"jsonrpc": "2.0", "method": "test/echo"}, []])
    )
    # Issue 9's attack shapes.
    out["batch-20000-non-objects"] = frames(wire.encode([0] * 20_000))
    out["batch-300-non-objects"] = frames(wire.encode([0, "x", None] * 100))  # past --max-inflight, but small
    dup = [_request(5, "test/echo", {"value": 5}), _request(5, "worker/ping"), _request(5, "worker/info")]
    out["duplicate-ids-batch"] = frames(wire.encode(dup))
    out["duplicate-ids-frames"] = frames(*(wire.encode(m) for m in dup))
    out["long-method-name"] = frames(wire.encode(_request(1, "m" * 10_000)))
    out["long-params-key"] = frames(wire.encode(_request(1, "test/echo", {"k" * 10_000: 1})))
    if encoding == "msgpack":
        # {"jsonrpc": "2.0", "id": 1, "method": "worker/ping", <invalid UTF-8 key>: 1}
        four_members = b"\x84" + wire.encode(_request(1, "worker/ping"))[1:]
        out["invalid-utf8-key"] = frames(four_members + b"\xa2\xff\xfe\x01")
        out["invalid-utf8-method"] = frames(b"\x83\xa7jsonrpc\xa32.0\xa2id\x01\xa6method\xa2\xff\xfe")
    else:
        out["invalid-utf8-key"] = frames(b'{"jsonrpc":"2.0","id":1,"method":"worker/ping","\xff\xfe":1}')
        out["invalid-utf8-method"] = frames(b'{"jsonrpc":"2.0","id":1,"method":"\xff\xfe"}')
    # Framing attacks, read raw (in a framing they are not meant for they are just bytes).
    ping = wire.encode(_request(1, "worker/ping"))
    out["lsp-content-length-5000-digits"] = RAW + b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n" + ping
    out["lsp-content-length-zero-padded"] = (
        RAW + b"Content-Length: " + b"0" * 4999 + b"%d\r\n\r\n" % len(ping) + ping
    )
    out["lsp-content-length-negative"] = RAW + b"Content-Length: -5\r\n\r\n" + ping
    out["lsp-header-line-too-long"] = RAW + b"X: " + b"y" * 9000 + b"\r\nContent-Length: 2\r\n\r\n{}"
    out["length-prefix-268mb"] = RAW + b"\x10\x00\x00\x00" + b"abc"
    out["length-prefix-max"] = RAW + b"\xff\xff\xff\xff" + ping
    out["ndjson-line-over-limit"] = RAW + b"[" + b"0," * 10_000 + b"0]\n" + ping + b"\n"
    out["truncated"] = raw(ping)[:-3]
    return out


def write_seeds(corpus: Path, framing: str, encoding: str) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for name, data in seeds(framing, encoding).items():
        path = corpus / f"seed-{name}"
        if not path.exists():
            path.write_bytes(data)


# ---- the child: one framing and encoding under atheris ----------------------------------------


def signature(exc: BaseException) -> str:
    """What groups inputs by cause: a Violation's kind and the start of its detail, or an
    exception's type and the innermost worker frame it came from."""
    from bench.fuzz_target import Violation

    if isinstance(exc, Violation):
        # The detail without the data: up to the responses it lists, ids and sizes left out.
        detail = re.split(r" among |: \[|: b'|: '", str(exc)[len(exc.kind) + 2 :], maxsplit=1)[0]
        detail = re.sub(r"id=('[^']*'|[^,]*)", "id=?", detail)
        detail = re.sub(r"\b\d+ (arrays|bytes|characters|still)", r"N \1", detail)
        return f"{exc.kind}: {detail[:160]}".rstrip(": ")
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f"{os.sep}worker{os.sep}" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "harness"
    return f"{type(exc).__name__} at {where}"


def run_child(args: argparse.Namespace) -> None:
    import atheris

    # atheris instruments whole top-level packages: everything of `worker` imported here (the rpc and
    # runtime layers, and the few modules they need: config, errors, core and test handlers).
    with atheris.instrument_imports(include=["worker.rpc", "worker.runtime"]):
        from bench.fuzz_target import Target

    logging.disable(logging.CRITICAL)  # the dispatcher logs every bad frame; stderr is libFuzzer's
    artifacts = Path(args.artifacts)
    artifacts.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    holder = {"target": Target(args.framing, args.encoding, max_frame_bytes=args.max_frame_bytes)}

    def one_input(data: bytes) -> None:
        try:
            holder["target"].one_input(data)
        except Exception as exc:
            if args.stop_on_crash:
                raise
            sig = signature(exc)
            record = {"signature": sig, "framing": args.framing, "encoding": args.encoding}
            with open(artifacts / "crashes.jsonl", "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
            if sig not in seen:
                seen.add(sig)
                name = "crash-" + re.sub(r"[^A-Za-z0-9]+", "-", sig)[:80].strip("-")
                (artifacts / name).write_bytes(data)
                (artifacts / f"{name}.txt").write_text(
                    f"{sig}\n{args.framing}/{args.encoding}\n\n" + "".join(traceback.format_exception(exc))
                )
            # A broken promise may leave the dispatcher in a bad state: start the next input afresh.
            holder["target"] = Target(args.framing, args.encoding, max_frame_bytes=args.max_frame_bytes)

    libfuzzer_args = [
        sys.argv[0],
        str(args.corpus),
        f"-max_total_time={args.seconds}",
        f"-max_len={args.max_len}",
        "-timeout=60",
        "-rss_limit_mb=4096",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}{os.sep}",
    ]
    atheris.Setup(libfuzzer_args, one_input)
    atheris.Fuzz()


# ---- the parent: one child per pair, one JSON line at the end -------------------------------------


def _last(pattern: str, text: str) -> int | None:
    found = re.findall(pattern, text)
    return int(found[-1]) if found else None


def run_pair(args: argparse.Namespace, framing: str, encoding: str) -> dict[str, Any]:
    workdir = Path(args.workdir) / f"{framing}-{encoding}"
    corpus = Path(args.corpus) / f"{framing}-{encoding}" if args.corpus else workdir / "corpus"
    artifacts = workdir / "artifacts"
    workdir.mkdir(parents=True, exist_ok=True)  # with --corpus elsewhere, nothing else makes it
    write_seeds(corpus, framing, encoding)
    crash_log = artifacts / "crashes.jsonl"
    before = crash_log.read_text().count("\n") if crash_log.exists() else 0
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        f"--framing={framing}",
        f"--encoding={encoding}",
        f"--seconds={args.seconds}",
        f"--max-len={args.max_len}",
        f"--max-frame-bytes={args.max_frame_bytes}",
        f"--corpus={corpus}",
        f"--artifacts={artifacts}",
        *(["--stop-on-crash"] if args.stop_on_crash else []),
    ]
    log_path = workdir / "libfuzzer.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, check=False)
    text = log_path.read_text(encoding="utf-8", errors="replace")
    records = crash_log.read_text().splitlines()[before:] if crash_log.exists() else []
    signatures = sorted({json.loads(r)["signature"] for r in records})
    fatal = proc.returncode != 0
    if fatal:
        signatures.append(f"libFuzzer stopped (exit {proc.returncode}); see {log_path}")
    status_lines = [line for line in text.splitlines() if " cov: " in line]
    return {
        "framing": framing,
        "encoding": encoding,
        "seconds": args.seconds,
        "executions": _last(r"stat::number_of_executed_units: (\d+)", text),
        "exec_per_second": _last(r"stat::average_exec_per_sec:\s+(\d+)", text),
        "cov": _last(r" cov: (\d+)", status_lines[-1]) if status_lines else None,
        "ft": _last(r" ft: (\d+)", status_lines[-1]) if status_lines else None,
        "corpus_size": sum(1 for p in corpus.iterdir() if p.is_file()),
        "crashing_inputs": len(records) + int(fatal),
        "crashes": signatures,
        "artifacts": str(artifacts),
        "log": str(log_path),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time per framing/encoding pair")
    parser.add_argument("--framing", choices=["length", "lsp", "ndjson", "all"], default="all")
    parser.add_argument("--encoding", choices=["msgpack", "json", "all"], default="all")
    parser.add_argument("--corpus", help="corpus folder (one subfolder per pair); default under --workdir")
    parser.add_argument("--workdir", default=str(DEFAULT_WORKDIR), help="corpus, artifacts and logs")
    parser.add_argument("--max-len", type=int, default=1 << 16, help="libFuzzer's largest input (bytes)")
    parser.add_argument("--max-frame-bytes", type=int, default=1 << 14, help="the target's frame limit")
    parser.add_argument("--stop-on-crash", action="store_true", help="stop at the first broken promise")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--artifacts", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args)
        return 0
    pairs = [(f, e) for f, e in COMBINATIONS if args.framing in (f, "all") and args.encoding in (e, "all")]
    if not pairs:
        parser.error(f"no such pair: --framing {args.framing} --encoding {args.encoding}")
    runs = []
    for framing, encoding in pairs:
        run = run_pair(args, framing, encoding)
        runs.append(run)
        progress = f"{framing}/{encoding}: {run['executions']} executions, cov {run['cov']}, ft {run['ft']}"
        sys.stderr.write(f"{progress}, crashes {run['crashes']}\n")
    summary = {
        "executions": sum(r["executions"] or 0 for r in runs),
        "crashes": sum(len(r["crashes"]) for r in runs),
        "runs": runs,
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0 if summary["crashes"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
