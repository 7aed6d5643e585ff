#!/usr/bin/env bash
# Passes `go test -v` output through unchanged and ends it with one line
# counting top-level and sub-tests: "tests: N passed, N failed, N skipped".
# The exit status of go test is kept by the caller's pipefail.
set -euo pipefail
awk '
	{ print; fflush() }
	/^ *--- PASS: / { p++ }
	/^ *--- FAIL: / { f++ }
	/^ *--- SKIP: / { s++ }
	END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }
'
