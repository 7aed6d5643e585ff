#!/usr/bin/env bash
# Runs the lifecycle benchmarks (retention plan and apply from the embedded
# store, garbage collection of 100,000 blobs with and without concurrent
# pushes) and prints markdown rows for the "## Lifecycle" section of
# docs/benchmarks.md. It does not edit that file: paste the rows by hand.
# Usage: bench/lifecycle.sh [-count N]   (N runs of each; default 1)
# Takes a few minutes (seeding 100,000 tags and blobs dominates).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

count=1
if [[ "${1:-}" == "-count" ]]; then count="$2"; fi

out="$(mktemp "${TMPDIR:-/tmp}/berth-lifecycle.XXXXXX")"
trap 'rm -f "$out"' EXIT
{
	go test -run '^$' -bench 'BenchmarkPlan100kStore|BenchmarkApply' -benchtime 3x -count "$count" ./internal/lifecycle/policy
	go test -run '^$' -bench 'MarkSweep100k' -benchtime 1x -count "$count" ./internal/lifecycle/gc
} | tee "$out" >&2

load="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
echo
echo "Measured with \`bench/lifecycle.sh\` on $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, load average $load; best (median) of $count run(s)."
echo
echo "| metric | value | target |"
echo "|---|---:|---|"
# Each row: the best and the median of a metric over the runs of one benchmark.
awk -v count="$count" '
function metric(line, unit,   i, n, f) {
	n = split(line, f, /[ \t]+/)
	for (i = 2; i <= n; i++) if (f[i] == unit) return f[i-1]
	return ""
}
function add(key, v) { vals[key] = vals[key] (vals[key] == "" ? "" : " ") v }
/^BenchmarkPlan100kStore\/one-pass/ { add("plan", metric($0, "ns/op") / 1e9); add("plancpu", metric($0, "cpu-s/op")) }
/^BenchmarkPlan100kStore\/per-repo/ { add("planrepo", metric($0, "ns/op") / 1e9) }
/^BenchmarkApply/                   { add("apply", metric($0, "tags/s")) }
/^BenchmarkMarkSweep100k\/idle/     { add("gc", metric($0, "ns/op") / 1e9); add("gcrss", metric($0, "peak-rss-MiB")) }
/^BenchmarkMarkSweep100k\/with-pushes/ { add("gcp", metric($0, "ns/op") / 1e9); add("gcprss", metric($0, "peak-rss-MiB")); add("pushes", metric($0, "pushes/op")) }
function stat(key, best_is_max, fmt,   n, a, i, j, t, best) {
	n = split(vals[key], a, " ")
	if (n == 0) return "n/a"
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	best = sprintf(fmt, best_is_max ? a[n] : a[1])
	return n == 1 ? best : best " (median " sprintf(fmt, a[int((n + 1) / 2)]) ")"
}
END {
	printf "| retention plan, 100,000 tags in 1,000 repositories from sqlite, one pass (s) | %s | < 1 s |\n", stat("plan", 0, "%.2f")
	printf "| same plan, CPU seconds (user+system) per plan | %s | |\n", stat("plancpu", 0, "%.2f")
	printf "| same plan, repository by repository (s) | %s | |\n", stat("planrepo", 0, "%.2f")
	printf "| apply: tag deletions per second into the recycle bin | %s | >= 5,000/s |\n", stat("apply", 1, "%.0f")
	printf "| GC mark and sweep, 100,000 blobs (50,000 deleted), idle (s) | %s | < 10 s |\n", stat("gc", 0, "%.2f")
	printf "| GC mark and sweep, same, while 4 goroutines push (s) | %s | < 10 s |\n", stat("gcp", 0, "%.2f")
	printf "| pushes acknowledged during that GC (all intact afterwards) | %s | |\n", stat("pushes", 1, "%.0f")
	printf "| peak RSS of the GC benchmark process (VmHWM, setup included, MiB) | %s | |\n", stat("gcprss", 0, "%.1f")
}' "$out"
