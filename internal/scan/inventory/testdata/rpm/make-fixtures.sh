#!/usr/bin/env bash
# Regenerates the rpm database fixtures: three small packages installed
# (--justdb) into an rpm sqlite database by Debian's rpm 4.18, then the same
# header blobs written as a Berkeley DB hash database (db5.3's db_load, as
# rpm ≤ 4.15 kept them) and as an ndb Packages.db (by ndb.py, since Debian's
# rpm is built without ndb). Needs: rpm, db-util, sqlite3, python3.
#   apt-get install -y rpm db-util sqlite3
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/SPECS" "$work/db"
spec() { # name epoch version release arch
	{
		echo "Name: $1"; echo "Version: $3"; echo "Release: $4"
		[ "$2" = - ] || echo "Epoch: $2"
		echo "Summary: Berth test package $1"; echo "License: MIT"
		echo "Vendor: Berth Test"; echo "BuildArch: $5"
		printf '%%description\ntest\n%%files\n'
	} >"$work/SPECS/$1.spec"
	rpmbuild --quiet --define "_topdir $work" -bb "$work/SPECS/$1.spec"
}
spec hello 1 2.4 3.el9 x86_64
spec openssl-libs 1 3.0.7 24.el9 x86_64
spec bash - 5.1.8 6.el9 noarch
rpm --dbpath "$work/db" --initdb
rpm --dbpath "$work/db" -i --justdb --nodeps --noscripts --ignorearch "$work"/RPMS/*/*.rpm 2>/dev/null
sqlite3 "$work/db/rpmdb.sqlite" 'PRAGMA journal_mode=DELETE; PRAGMA page_size=1024; VACUUM;' >/dev/null
cp "$work/db/rpmdb.sqlite" "$here/rpmdb.sqlite"
sqlite3 "$work/db/rpmdb.sqlite" 'SELECT hnum, hex(blob) FROM Packages ORDER BY hnum' >"$work/blobs"
python3 "$here/ndb.py" "$work/blobs" "$here/Packages.db"
# db_load -T: key and data lines alternate, bytes as \hh; the key is the
# package number as a native (little-endian) uint32, as rpm wrote it.
python3 - "$work/blobs" >"$work/dump" <<'PY'
import struct, sys
for line in open(sys.argv[1]):
    n, blob = line.strip().split("|")
    print("".join("\\%02x" % b for b in struct.pack("<I", int(n))))
    print("".join("\\%02x" % b for b in bytes.fromhex(blob)))
PY
rm -f "$here/Packages"
db5.3_load -T -t hash -c db_pagesize=512 "$here/Packages" <"$work/dump"
