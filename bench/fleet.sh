#!/bin/sh
# Fleet benchmark: the plan of `berth purge --dry-run` (keep the 2 newest
# tags everywhere) over REPOS x TAGS images, on CNCF distribution 2.8
# (docker-registry) and on Berth, both on 127.0.0.1. Prints one markdown
# row per registry for docs/benchmarks.md "## Fleet": requests made,
# requests per tag, wall time of the plan and the requests by kind.
#
#   bench/fleet.sh            # 100 repositories x 100 tags
#   FLEET_REPOS=10 FLEET_TAGS=20 bench/fleet.sh
set -eu
cd "$(dirname "$0")/.."
command -v docker-registry >/dev/null || { echo "docker-registry not installed (apt-get install docker-registry)" >&2; exit 1; }
echo "| registry | repositories × tags | tag times from | requests | per tag | plan wall time | requests by kind |"
echo "|---|---|---|---:|---:|---:|---|"
BERTH_FLEET_BENCH=1 FLEET_REPOS="${FLEET_REPOS:-100}" FLEET_TAGS="${FLEET_TAGS:-100}" \
	go test -count=1 -run '^TestFleetPlanCost$' -timeout 30m ./internal/fleet/ | grep '^|'
