#!/usr/bin/env bash
# Measures the Access rows of docs/benchmarks.md: manifest GET requests/s
# unauthenticated, with network rules, with a Bearer token and with both,
# in one run, and rewrites only the "## Access" section of BENCH_OUT
# (default docs/benchmarks.md; "-" prints the markdown). Usage:
#   bench/access.sh [berthbench flags], e.g. -duration 5s -rounds 2
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v wrk >/dev/null 2>&1 || { echo "bench: wrk is required (scripts/install-tools.sh)" >&2; exit 1; }
work="$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-access.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
go build -o "$work/bin/berth" ./cmd/berth
go build -o "$work/bin/berthbench" ./bench/cmd/berthbench
out="${BENCH_OUT:-$ROOT/docs/benchmarks.md}"
"$work/bin/berthbench" -mode access -berth "$work/bin/berth" -work "$work" -out "$out" -images 20 "$@"
