#!/usr/bin/env bash
# Benchmarks berth against docker-registry (CNCF distribution) in one run and
# writes docs/benchmarks.md. Usage: bench/run.sh [berthbench flags], e.g.
#   bench/run.sh -layer-size 67108864 -images 100 -duration 3s   # quick check
# Not part of `make test`: it takes several minutes and needs ~3 GiB of disk.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

for bin in docker-registry wrk; do
	if ! command -v "$bin" >/dev/null 2>&1; then
		INSTALL_HELM=0 bash scripts/install-tools.sh
		break
	fi
done
for bin in docker-registry wrk dd; do
	command -v "$bin" >/dev/null 2>&1 || { echo "bench: $bin is required" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
go build -o "$work/bin/berth" ./cmd/berth
go build -o "$work/bin/berthbench" ./bench/cmd/berthbench
out="${BENCH_OUT:-$ROOT/docs/benchmarks.md}"
mkdir -p "$(dirname "$out")"
"$work/bin/berthbench" -berth "$work/bin/berth" -work "$work" -out "$out" "$@"
echo "bench: wrote $out" >&2
