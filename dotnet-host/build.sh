#!/usr/bin/env bash
# Build the C# host with Mono's mcs, and run its NUnit tests or the samples. Installs nothing:
# it needs mcs, mono and nunit-console (Debian: mono-devel nunit-console), the repository's .venv
# for the worker, and `npm ci` run in dotnet-host/ for the msgpack-test-suite data.
#
#   bash dotnet-host/build.sh build              compile library, tests and samples into dotnet-host/out/
#   bash dotnet-host/build.sh test [NUNIT ARGS]  build, then run the tests (e.g. -run=HfWorker.Tests.Pool)
#   bash dotnet-host/build.sh sample demo|stress|ping|crash [ARGS]   build, then run the console demo
#   bash dotnet-host/build.sh readme             build, then run the README's "Using it from C#" example
#   bash dotnet-host/build.sh provision [ARGS]   build, then run the README's provisioning example (samples/Provision)
#                                                into a temporary cache folder, from the sources pip is configured with
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/out"
nunit_dir="${NUNIT_DIR:-$(ls -d /usr/lib/cli/nunit.framework-2.6* 2>/dev/null | sort | tail -n 1)}"
nunit="$nunit_dir/nunit.framework.dll"

# C# 7 as mcs knows it; warnings are errors in the library so that it stays clean.
# HFWORKER_ASYNC_INTERFACES: the platform has IAsyncDisposable and IAsyncEnumerable<T> (Mono's class library
# does, as net8.0 and net10.0 do; netstandard2.0 does not): src/HfWorker/HfWorker.csproj defines it the same way.
common=(-langversion:7 -debug -nologo -define:HFWORKER_ASYNC_INTERFACES
  -r:System.dll -r:System.Core.dll -r:System.Numerics.dll)

sources() { find "$1" -name '*.cs' -not -path '*/obj/*' -not -path '*/bin/*' | sort; }

build() {
  mkdir -p "$out"
  mapfile -t lib < <(sources "$here/src/HfWorker")
  mcs "${common[@]}" -target:library -warnaserror+ -doc:"$out/HfWorker.xml" -out:"$out/HfWorker.dll" "${lib[@]}"
  if [[ ! -f "$nunit" ]]; then
    echo "build.sh: NUnit 2.6 not found under /usr/lib/cli (apt-get install nunit-console) or NUNIT_DIR" >&2
    exit 1
  fi
  cp "$nunit" "$out/"
  mapfile -t tests < <(sources "$here/tests/HfWorker.Tests")
  mcs "${common[@]}" -target:library -r:"$out/HfWorker.dll" -r:"$nunit" -out:"$out/HfWorker.Tests.dll" "${tests[@]}"
  readme_snippet "Using it from C#" ReadmeExample
  readme_snippet "From a .NET app, with only Python and uv on the machine" Provision
  # A second OS process for the provisioning specs (the cross-process lock, a build killed half-way).
  mapfile -t files < <(sources "$here/tests/EnsureTool")
  mcs "${common[@]}" -target:exe -r:"$out/HfWorker.dll" -out:"$out/EnsureTool.exe" "${files[@]}"
  for sample in Demo ReadmeExample Provision; do
    if [[ -d "$here/samples/$sample" ]]; then
      mapfile -t files < <(sources "$here/samples/$sample")
      mcs "${common[@]}" -target:exe -r:"$out/HfWorker.dll" -out:"$out/$sample.exe" "${files[@]}"
    fi
  done
}

# A README section's C# example is samples/SAMPLE/Program.cs, word for word: when the README has that
# section, its first csharp block is extracted, compared with the file and compiled itself.
readme_snippet() {
  local readme="$here/../README.md" title="$1" sample="$2"
  local snippet="$out/${sample}Snippet.cs"
  [[ -f "$readme" ]] || return 0
  rm -f "$snippet"
  python3 - "$readme" "$snippet" "$title" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
section = re.search(r"^## " + re.escape(sys.argv[3]) + r"\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
if section is None:
    sys.exit(0)
block = re.search(r"^```csharp\n(.*?)^```", section.group(1), re.M | re.S)
if block is None:
    sys.exit(f"build.sh: README's '{sys.argv[3]}' section has no ```csharp block")
open(sys.argv[2], "w", encoding="utf-8").write(block.group(1))
PY
  if [[ -f "$snippet" ]]; then
    if ! diff -u "$here/samples/$sample/Program.cs" "$snippet" >&2; then
      echo "build.sh: the README's '$title' example differs from samples/$sample/Program.cs (above)" >&2
      exit 1
    fi
    mcs "${common[@]}" -target:exe -r:"$out/HfWorker.dll" -out:"$out/${sample}Snippet.exe" "$snippet"
  fi
}

run_tests() {
  cd "$out"
  local status=0
  # Every test that touches a process has its own timeout; this one bounds the run as a whole
  # (NUnit 2.6 can hang at exit when a timed-out test left a thread blocked).
  # The suite provisions a Python environment and runs tiny diffusion and speech models: about 10 minutes
  # on a loaded 2-core machine, so the bound is twice that.
  rm -f "$out/TestResult.xml"
  timeout "${HFW_TEST_RUN_TIMEOUT:-1800}" nunit-console -nologo -noshadow -labels -xml="$out/TestResult.xml" \
    "$out/HfWorker.Tests.dll" "$@" || status=$?
  if [[ $status -eq 124 ]]; then echo "build.sh: the test run exceeded ${HFW_TEST_RUN_TIMEOUT:-1800} s and was stopped" >&2; fi
  # One closing line CI can read, from NUnit's own result file.
  if [[ -f "$out/TestResult.xml" ]]; then
    python3 - "$out/TestResult.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = root.iter("test-case")
passed = failed = skipped = 0
for case in cases:
    if case.get("executed") != "True":
        skipped += 1
    elif case.get("success") == "True":
        passed += 1
    else:
        failed += 1
print(f"dotnet-host: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
  fi
  return $status
}

# The provisioning example as a .NET app on a bare machine would run it: uv (the repo's .venv has one), the
# hf-worker wheel CI built (HF_WORKER_WHEEL) or the repository folder, the package sources pip is configured with
# here (a company mirror's, as it were), a cache folder of its own, and not in the repository (so that python -m
# worker imports the installed package). Extra arguments replace all of that but the uv.
provision() {
  local venv="$here/../.venv" workdir status=0
  workdir=$(mktemp -d)
  if [[ $# -eq 0 ]]; then
    local source="${HF_WORKER_WHEEL:-$(cd "$here/.." && pwd)}"
    mapfile -t sources < <("$venv/bin/python" -m pip config list | python3 -c '
import sys
seen = []
for line in sys.stdin:
    key, _, value = line.strip().partition("=")
    key = key.rsplit(".", 1)[-1]
    if key in ("index-url", "extra-index-url", "find-links"):
        for v in value.strip("\x27\"").split():
            if (key, v) not in seen:
                seen.append((key, v))
                print("--" + key)
                print(v)
')
    set -- "$source" --cache "$workdir/environments" "${sources[@]}"
  fi
  if [[ -z "${HF_WORKER_UV:-}" && -x "$venv/bin/uv" ]]; then export HF_WORKER_UV="$venv/bin/uv"; fi
  (cd "$workdir" && mono "$out/Provision.exe" "$@") || status=$?
  rm -rf "$workdir"
  return $status
}

command="${1:-test}"
shift || true
case "$command" in
  build) build ;;
  test) build; run_tests "$@" ;;
  sample)
    build
    exec mono "$out/Demo.exe" "$@" ;;
  readme)
    build
    if [[ $# -eq 0 ]]; then set -- "$here/../.venv"; fi
    exec mono "$out/ReadmeExample.exe" "$@" ;;
  provision)
    build
    provision "$@" ;;
  *) echo "usage: build.sh build|test|sample ARGS|readme|provision [ARGS]" >&2; exit 2 ;;
esac
