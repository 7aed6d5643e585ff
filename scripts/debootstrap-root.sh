#!/usr/bin/env bash
# Builds the Debian bookworm root that test/e2e's TestDebootstrapInventory
# scans, once: `make test` starts this in the background at its beginning
# (debootstrap takes minutes, mostly downloads and dpkg), and the test waits
# for DIR.status. A root that was built before is reused.
#
#   scripts/debootstrap-root.sh DIR
#
# DIR.status ends as "ok", "skip: <reason>" (the machine cannot build it:
# the test skips outside CI and fails under CI=true) or "fail: <reason>";
# the debootstrap output is in DIR.log.
set -uo pipefail
dir=${1:?usage: debootstrap-root.sh DIR}
status=$dir.status

finish() { echo "$1" >"$status.tmp" && mv "$status.tmp" "$status"; exit 0; }

[[ -f $status && $(cat "$status") == ok && -d $dir/var/lib/dpkg ]] && exit 0
rm -f "$status"
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock -n 9 || exit 0 # another run is building it and will write the status

command -v debootstrap >/dev/null 2>&1 || finish "skip: debootstrap not installed (apt-get install debootstrap)"
[[ $(id -u) -eq 0 ]] || finish "skip: debootstrap needs root"

# The first Debian archive of the machine's apt sources (one-line and
# deb822 formats), not the security archive.
mirror=$({
	grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | sed -E 's/^deb +(\[[^]]*\] +)?//' | awk '{print $1}'
	grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | sed 's/^URIs://' | tr ' ' '\n'
} | grep -E '/debian/?$' | head -n 1)
[[ -n $mirror ]] || finish "skip: no Debian mirror in /etc/apt/sources.list or /etc/apt/sources.list.d/*.sources"

rm -rf "$dir"
start=$SECONDS
if timeout 25m debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1; then
	echo "debootstrap from $mirror took $((SECONDS - start))s" >>"$dir.log"
	finish ok
fi
finish "fail: debootstrap from $mirror failed after $((SECONDS - start))s; see $dir.log"
