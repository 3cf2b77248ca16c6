#!/usr/bin/env bash
# Run every test: the wheel build, the Python suite (unit, end-to-end, property, models, tensors, reliability,
# docs, wheel: the wheel installed alone), then the C# host's NUnit suite, the README's C# example, the C#
# demo, and a stress run that kills workers from outside.
set -euo pipefail
cd "$(dirname "$0")/.."

# Lint first: it is fast and its failures are the cheapest to read. (ruff's T201 keeps print() out of
# worker/: stdout is the wire.)
.venv/bin/ruff check worker tests bench examples
.venv/bin/ruff format --check worker tests bench examples
.venv/bin/mypy

# The wheel CI ships: tests/wheel installs this very file into a fresh venv (and so may the C# specs).
HF_WORKER_WHEEL=$(bash scripts/build_wheel.sh dist)
export HF_WORKER_WHEEL
echo "wheel: $HF_WORKER_WHEEL" >&2

.venv/bin/python -m pytest "$@"

bash dotnet-host/build.sh test
bash dotnet-host/build.sh readme >/dev/null
bash dotnet-host/build.sh provision >/dev/null
bash dotnet-host/build.sh sample demo >/dev/null

# The demo's image and speak commands on tiny random-weight models: each must write a real PNG and WAV.
media=$(mktemp -d)
trap 'rm -rf "$media"' EXIT
.venv/bin/python dotnet-host/tests/fixtures/make_media_models.py "$media/models" >/dev/null
model_of() { .venv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$media/models/manifest.json" "$1"; }
bash dotnet-host/build.sh sample image --model "$(model_of text-to-image)" --prompt "a lighthouse" --steps 2 \
    --size 32 --seed 7 --out "$media/lighthouse.png" >/dev/null
bash dotnet-host/build.sh sample speak --model "$(model_of text-to-speech)" --text "Hello from .NET" \
    --out "$media/hello.wav" >/dev/null
.venv/bin/python - "$media/lighthouse.png" "$media/hello.wav" <<'PY'
import sys, wave
png = open(sys.argv[1], "rb").read()
assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 32, png[:24]
with wave.open(sys.argv[2]) as w:
    assert w.getnframes() > 0 and w.getframerate() == 16000, (w.getnframes(), w.getframerate())
print("demo: image and speak wrote a 32 px PNG and a WAV", file=sys.stderr)
PY

# Workers are SIGKILLed every 2 s while 1,000 embedding calls go through the pool: none may be lost.
stress=$(bash dotnet-host/build.sh sample stress --workers 2 --requests 1000 --kill-every 2 | tail -n 1)
echo "stress: $stress"
.venv/bin/python - "$stress" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
assert r["lost"] == 0, r
assert r["succeeded"] + r["failed"] == r["requests"] == 1000, r
assert r["succeeded"] > 0, r
PY
