#!/usr/bin/env bash
# Passes `go test -v` output through unchanged and ends it with one line
# counting top-level and sub-tests: "tests: N passed, N failed, N skipped".
# A package that fails without a test line (build failure, panic in TestMain)
# counts as one failure, so the summary can never read "0 failed" then.
# The exit status of go test is kept by the caller's pipefail.
set -euo pipefail
awk '
	{ print; fflush() }
	/^ *--- PASS: / { p++ }
	/^ *--- FAIL: / { f++ }
	/^ *--- SKIP: / { s++ }
	/^FAIL\t/ { pf++ }
	/^--- FAIL: / { tf++ }
	# A failed package with no failed top-level test failed outside any test.
	END { if (pf > tf) f += pf - tf; printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }
'
