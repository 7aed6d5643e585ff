#!/usr/bin/env bash
# Builds Dex (the OIDC provider TestOIDCWithDex logs in against) into OUT,
# once: `make test` starts this in the background at its beginning, and the
# test waits for OUT.status. `go install …/dex@…` does not work through the
# module proxy (docs/testing.md), so scripts/dex is a throwaway module that
# pins Dex v2.41.1's commit and the api/v2 release it needs.
#
#   scripts/build-dex.sh OUT
#
# OUT.status ends as "ok" or "fail: <reason>" (the output is in OUT.log).
set -uo pipefail
out=${1:?usage: build-dex.sh OUT}
status=$out.status
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

finish() { echo "$1" >"$status.tmp" && mv "$status.tmp" "$status"; exit 0; }

[[ -x $out && -f $status && $(cat "$status") == ok ]] && exit 0
mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock -n 9 || exit 0 # another run is building it and will write the status
rm -f "$status"
if [[ -x $out ]]; then finish ok; fi # built by hand before (docs/testing.md)

start=$SECONDS
if (cd "$here/dex" && GOFLAGS=-mod=mod nice -n 5 go build -o "$out.tmp" github.com/dexidp/dex/cmd/dex) >"$out.log" 2>&1 &&
	mv "$out.tmp" "$out"; then
	echo "built in $((SECONDS - start))s" >>"$out.log"
	finish ok
fi
rm -f "$out.tmp"
finish "fail: building Dex failed after $((SECONDS - start))s; see $out.log"
