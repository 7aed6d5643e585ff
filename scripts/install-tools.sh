#!/usr/bin/env bash
# Installs the external clients and linters the tests drive. Idempotent: every
# step checks first, so a second run on a provisioned machine takes seconds.
#
#   apt (needs root): skopeo, podman, buildah, docker-registry (peer registry), wrk (benchmarks),
#         chromium and chromium-driver (the web UI's browser tests, test/ui)
#   npm: playwright-core into test/ui/node_modules (npm ci; it drives the
#         system Chromium, so no browser is downloaded)
#   Go tools (pinned) into ./.tools/bin: crane, regctl, oras, conformance, staticcheck
#   helm (pinned) into ./.tools/bin too: its cold build is the slowest step
#         (about 6 minutes on 2 cores, cached afterwards; see docs/testing.md).
#         INSTALL_HELM=0 leaves it out for a quick local setup; the e2e helm
#         test then skips locally, and fails under CI=true.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_BIN="${TOOLS_BIN:-$ROOT/.tools/bin}"
mkdir -p "$TOOLS_BIN"

log() { printf 'install-tools: %s\n' "$*" >&2; }

# ---- apt packages ---------------------------------------------------------
apt_pkgs=(skopeo docker-registry wrk podman buildah chromium chromium-driver debootstrap)
declare -A apt_bin=([skopeo]=skopeo [docker-registry]=docker-registry [wrk]=wrk [podman]=podman [buildah]=buildah [chromium]=chromium [chromium-driver]=chromedriver [debootstrap]=debootstrap)
missing=()
for p in "${apt_pkgs[@]}"; do
	command -v "${apt_bin[$p]}" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		log "not root: skipping apt install of ${missing[*]} (tests needing them will skip, or fail under CI=true)"
	elif ! command -v apt-get >/dev/null 2>&1; then
		log "no apt-get: cannot install ${missing[*]}"
	else
		log "apt: installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
else
	log "apt: ${apt_pkgs[*]} already present"
fi

# ---- Go tools ---------------------------------------------------------------
# name|module@version. Versions are pinned so CI is reproducible; each must
# resolve on the Go module proxy.
go_tools=(
	"crane|github.com/google/go-containerregistry/cmd/crane@v0.22.1"
	"regctl|github.com/regclient/regclient/cmd/regctl@v0.11.7"
	"oras|oras.land/oras/cmd/oras@v1.3.6"
	"conformance|github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111"
	"staticcheck|honnef.co/go/tools/cmd/staticcheck@v0.8.2"
)
if [[ "${INSTALL_HELM:-1}" == 1 ]]; then
	go_tools+=("helm|helm.sh/helm/v3/cmd/helm@v3.22.0")
else
	log "INSTALL_HELM=0: not building helm"
fi

# A stamp file per tool records the module@version it was built from, so a
# version bump rebuilds and an unchanged pin is a no-op.
for entry in "${go_tools[@]}"; do
	name="${entry%%|*}"
	modver="${entry#*|}"
	stamp="$TOOLS_BIN/.$name.version"
	if [[ -x "$TOOLS_BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$modver" ]]; then
		continue
	fi
	log "go install $modver"
	start=$SECONDS
	# Run outside the module so the project's go.mod is never touched.
	(cd /tmp && GOBIN="$TOOLS_BIN" GOFLAGS=-mod=mod GO111MODULE=on go install "$modver")
	# The conformance suite is a main package in the module root, so its binary
	# is named after the last path element: conformance.
	echo "$modver" >"$stamp"
	log "built $name in $((SECONDS - start))s"
done
log "Go tools ready in $TOOLS_BIN"

# ---- npm: the browser tests' driver -----------------------------------------
# playwright-core is pinned by test/ui/package-lock.json; npm ci runs again
# only when the lock file changed since the last install.
ui_dir="$ROOT/test/ui"
ui_stamp="$ui_dir/node_modules/.berth-lock.sha256"
if ! command -v npm >/dev/null 2>&1; then
	log "no npm: the browser tests (test/ui) will skip, or fail under CI=true"
else
	want="$(sha256sum "$ui_dir/package-lock.json" | cut -d' ' -f1)"
	if [[ -f "$ui_stamp" && "$(cat "$ui_stamp")" == "$want" ]]; then
		log "npm: test/ui/node_modules up to date"
	else
		log "npm ci in test/ui"
		# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: the tests use /usr/bin/chromium.
		(cd "$ui_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
		echo "$want" >"$ui_stamp"
	fi
fi
