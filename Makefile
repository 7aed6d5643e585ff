# Berth developer entry points. `make help` lists them; `make test` is the one
# command CI runs (via .ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
TOOLS_BIN := $(CURDIR)/.tools/bin
export PATH := $(TOOLS_BIN):$(PATH)

# Unit and package tests: everything except the suites under test/, which
# drive a separately built berth process and real clients.
UNIT_PKGS = $$($(GO) list ./... | grep -v '/test/')
# The race detector runs over the whole unit tree: the server, stores and
# job runner are all concurrent, and it stays well inside CI's budget.
RACE_TIMEOUT ?= 10m
INTEGRATION_TIMEOUT ?= 15m
# The e2e and conformance suites drive a -race build of berth, so real
# clients double as race tests of the server (a race fails the test).
BERTH_RACE ?= 1
export BERTH_RACE
# The Debian root TestDebootstrapInventory scans: built once in the
# background while the other tests run (scripts/debootstrap-root.sh), kept
# for later runs.
DEBOOTSTRAP_ROOT ?= $(CURDIR)/.cache/debootstrap-bookworm
export BERTH_TEST_DEBOOTSTRAP_PENDING ?= $(DEBOOTSTRAP_ROOT)
# Dex, the OIDC provider of TestOIDCWithDex: built once in the background
# too (scripts/build-dex.sh), into .tools/bin.
export BERTH_DEX_PENDING ?= $(TOOLS_BIN)/dex

.PHONY: help
help: ## list targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: tools
tools: ## install test clients and linters (scripts/install-tools.sh)
	bash scripts/install-tools.sh

.PHONY: build
build: ## build ./bin/berth
	$(GO) build -o bin/berth ./cmd/berth

.PHONY: fmt
fmt: ## gofmt -w every Go file
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet ./...
	$(GO) vet ./...

.PHONY: lint
lint: vet ## vet + staticcheck + gofmt check
	@test -x $(TOOLS_BIN)/staticcheck || bash scripts/install-tools.sh
	$(TOOLS_BIN)/staticcheck ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [[ -n "$$unformatted" ]]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

.PHONY: test
# Both suites always run, so one CI log shows every failure; the target
# fails if either did. Each phase prints its wall time for the CI budget.
test: tools lint ## everything: tools, vet + staticcheck + gofmt, race unit tests, e2e + conformance
	@status=0; \
	bash scripts/debootstrap-root.sh $(DEBOOTSTRAP_ROOT) & \
	bash scripts/build-dex.sh $(TOOLS_BIN)/dex & \
	for t in test-race integration; do \
		start=$$SECONDS; \
		$(MAKE) --no-print-directory $$t || status=1; \
		echo "make test: $$t took $$((SECONDS - start))s"; \
	done; \
	exit $$status

.PHONY: test-race
test-race: ## unit/package tests with the race detector
	$(GO) test -race -count=1 -timeout $(RACE_TIMEOUT) $(UNIT_PKGS)

.PHONY: test-short
test-short: ## quick unit tests, no race detector
	$(GO) test -count=1 $(UNIT_PKGS)

.PHONY: integration
integration: ## e2e tests with real clients and the OCI conformance suite against berth serve
	$(GO) test -count=1 -timeout $(INTEGRATION_TIMEOUT) -v ./test/... 2>&1 | scripts/gotest-summary.sh

.PHONY: integration-peer
integration-peer: ## the same suites against docker-registry (validates the harness; peer failures expected)
	BERTH_RACE=0 BERTH_TARGET=docker-registry $(GO) test -count=1 -timeout $(INTEGRATION_TIMEOUT) -v ./test/... 2>&1 | scripts/gotest-summary.sh

.PHONY: conformance
conformance: ## only the OCI conformance suite; keeps the HTML report in test/conformance/results
	BERTH_CONFORMANCE_RESULTS=$(CURDIR)/test/conformance/results $(GO) test -count=1 -v -run TestOCIConformance ./test/conformance/

.PHONY: bench
bench: ## berth vs docker-registry benchmarks -> docs/benchmarks.md (slow; never part of test)
	bash bench/run.sh

.PHONY: vuln
vuln: ## govulncheck (optional: needs the Go vulnerability database online)
	cd /tmp && GOBIN=$(TOOLS_BIN) GOFLAGS=-mod=mod $(GO) install golang.org/x/vuln/cmd/govulncheck@v1.1.4
	$(TOOLS_BIN)/govulncheck ./...
