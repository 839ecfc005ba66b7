# Entry points. Logic lives in Go (cmd/, internal/); each target is a line or two.
# `make help` lists the targets from their `##` comments.
#
# The CLIs and test binaries are built into _build/bin and run from there, not
# with `go run` / `go test`: those turn every failure into exit code 1, so the
# 130 of an interrupted run and the 2 of a usage error would never reach make
# or CI. (make itself exits 2 when a recipe fails, naming the recipe's code in
# "Error N", and dies of SIGINT, 130 in the shell, when Ctrl-C reaches it.)
SHELL := /bin/bash
ARTIFACTS ?= $(CURDIR)/_artifacts
IMAGES_DIR ?= $(CURDIR)/_build/images
BIN := $(CURDIR)/_build/bin
NODE_IMAGE_SOURCE ?= auto
E2E_TIMEOUT ?= 45m
# gotestsum's output format (pkgname, testname, standard-verbose, github-actions, ...);
# empty: pkgname for make test, standard-verbose for the live runs.
TEST_FORMAT ?=
export ARTIFACTS IMAGES_DIR NODE_IMAGE_SOURCE

MODULE := github.com/puretasks/k8s-conformance
GOTESTSUM := $(BIN)/gotestsum
# Run a compiled test binary as gotestsum's raw command: test2json events out,
# the binary's own exit code back (hack/run-test-binary says why).
RUN_TEST = TEST2JSON=$(BIN)/test2json $(GOTESTSUM) --format $(or $(TEST_FORMAT),standard-verbose) \
	--junitfile $(ARTIFACTS)/$(1).xml --jsonfile $(ARTIFACTS)/$(1).json --raw-command -- hack/run-test-binary
GO_DIRS := cmd e2e internal stubs

.PHONY: help test vet bench bin tools docker docker-undo node-image images cluster cluster-down cluster-clean smoke \
	conformance leakcheck selftest selftest-static soak lint-workflows ci-summary runner-sim clean clean-cache

## help: this list
help:
	@awk 'BEGIN { printf "make <target>:" } /^## [a-z-]+( \/ [a-z-]+)*:/ { sub(/^## /, ""); split($$0, a, ": "); t = a[1]; sub(/^[^:]*: /, ""); printf "\n  %-26s %s", t, $$0; next } \
		/^## / { sub(/^## /, ""); printf "\n  %-26s %s", "", $$0 } END { print "" }' $(MAKEFILE_LIST)

## test: gofmt, go vet (the build-tagged e2e and smoke packages too, and GOOS=darwin), then the static
## tier, every unit test, the bad-input table and the mutants' static half (no Docker, no cluster).
## JUnit and a JSON test log in $(ARTIFACTS)/test.{xml,json}
test: vet tools
	mkdir -p $(ARTIFACTS)
	$(GOTESTSUM) --format $(or $(TEST_FORMAT),pkgname) --junitfile $(ARTIFACTS)/test.xml --jsonfile $(ARTIFACTS)/test.json -- ./...

## vet: gofmt -l, go vet with the e2e and smoke build tags, and go vet for macOS (the static tier builds there)
vet:
	@out=$$(gofmt -l $(GO_DIRS)); if [ -n "$$out" ]; then echo "gofmt -l: not formatted (run gofmt -w):"; echo "$$out"; exit 1; fi
	go vet -tags e2e,smoke ./...
	GOOS=darwin go vet ./...

## bench: the static tier's benchmarks (checks over a loaded set, krusty and Helm renders, large input)
bench:
	go test ./internal/staticcheck ./internal/manifests -run '^$$' -bench . -benchmem

## bin / tools: build every CLI, gotestsum and test2json into _build/bin (tools: only the last two); a no-op when current
bin: tools
	go build -o $(BIN)/ ./cmd/...
tools:
	go build -o $(BIN)/ gotest.tools/gotestsum
	go build -o $(BIN)/test2json cmd/test2json
# cli builds one CLI into $(BIN) (a no-op when it is current), so a target waits only for its own.
cli = go build -o $(BIN)/ ./cmd/$(1)

## docker: make sure a Docker engine answers and runs privileged containers here (may install
## docker.io, and where the host needs it change /etc/docker/daemon.json, backed up, and restart dockerd)
docker:
	$(call cli,dockerhost)
	$(BIN)/dockerhost
## docker-undo: put /etc/docker/daemon.json back as it was before `make docker` changed it; restart dockerd
docker-undo:
	$(call cli,dockerhost)
	$(BIN)/dockerhost -undo

## node-image: the kind node image (KIND_NODE_IMAGE > hermetic present > upstream present > upstream pull > built from source)
node-image: docker
	$(call cli,nodeimage)
	$(BIN)/nodeimage -source $(NODE_IMAGE_SOURCE)

## images: the stub backend and frontend images into $(IMAGES_DIR)
images:
	$(call cli,stubimages)
	$(BIN)/stubimages -out $(IMAGES_DIR)

## cluster / cluster-down: a single-node kind cluster to poke at (KUBECONFIG=_build/kubeconfig-dev)
cluster: docker
	$(call cli,cluster)
	$(BIN)/cluster up
cluster-down:
	$(call cli,cluster)
	$(BIN)/cluster down
## cluster-clean: remove every cluster a run kept or left behind
cluster-clean:
	$(call cli,cluster)
	$(BIN)/cluster clean

## smoke: the hermetic cluster's own smoke test (cluster up, DNS, NodePort, PV/PVC, gone after)
smoke: docker node-image tools
	mkdir -p $(ARTIFACTS)
	go test -c -tags smoke -o $(BIN)/smoke.test ./e2e/smoke
	$(call RUN_TEST,junit-smoke) e2e/smoke $(MODULE)/e2e/smoke $(BIN)/smoke.test -test.count=1 -test.timeout 20m

## conformance: the live tier against MANIFESTS_DIR (default manifests/); CHECKS=L-DNS,L-PVC runs
## only those (and what they need). JUnit, a JSON test log, report.json/.html and evidence in
## $(ARTIFACTS); the run's output is kept in $(ARTIFACTS)/conformance.log and then checked for
## leaked fake Secret values
## UPGRADE_FROM=<git ref> also judges the change: that revision's manifests applied and serving, then
## these applied over it under traffic (L-UPGRADE; the lane's other checks then judge the result)
CHECKS ?=
UPGRADE_FROM ?=
comma := ,
E2E_CHECKS = $(CHECKS)$(if $(and $(CHECKS),$(UPGRADE_FROM)),$(comma)L-UPGRADE)
E2E_SELECT = $(if $(E2E_CHECKS),--labels $(subst $(comma),$(comma)id=,id=$(E2E_CHECKS)))
# The ref reaches the suite through the environment, unexpanded and unquoted
# (a ref may hold $ or '), only when given.
ifneq ($(UPGRADE_FROM),)
conformance: export E2E_UPGRADE_FROM = $(value UPGRADE_FROM)
endif
conformance: docker node-image images tools
	mkdir -p $(ARTIFACTS)
	go test -c -tags e2e -o $(BIN)/e2e.test ./e2e
	set -o pipefail; $(call RUN_TEST,junit) e2e $(MODULE)/e2e $(BIN)/e2e.test -test.count=1 -test.timeout $(E2E_TIMEOUT) $(E2E_SELECT) \
		2>&1 | tee -i $(ARTIFACTS)/conformance.log; rc=$$?; $(MAKE) --no-print-directory leakcheck || { [ $$rc != 0 ] || rc=1; }; exit $$rc

## leakcheck: no fake value of fixtures/secrets.fake.env anywhere in $(ARTIFACTS), plain or encoded
leakcheck:
	LEAKCHECK_REQUIRE=1 go test ./internal/leakcheck -run '^TestNoFakeSecretInArtifacts$$' -count=1 -v

## selftest: prove the checks can fail: every mutant (fixtures/mutants) through the static tier, then
## a control run and each mutant's live checks in ONE kind cluster (SLOW=1 adds the slow mutants)
selftest: docker node-image images
	$(call cli,selftest)
	$(BIN)/selftest
## selftest-static: the static half only (seconds; also part of make test)
selftest-static:
	$(call cli,selftest)
	$(BIN)/selftest -static
## soak: RUNS full live runs back to back: pass rate, per-phase/probe spread; INTERRUPT=1 SEED=n
## interrupts each at a seeded moment and checks nothing is left behind
soak: docker node-image images
	$(call cli,soak)
	$(BIN)/soak

## lint-workflows: actionlint, with shellcheck on the run: scripts, on .github/workflows (also in make test)
lint-workflows:
	go tool actionlint

## ci-summary: the live report as a Markdown table into $GITHUB_STEP_SUMMARY (stdout outside CI), and an
## error annotation per failed test from $(ARTIFACTS)/*.xml
ci-summary:
	$(call cli,cisummary)
	$(BIN)/cisummary -report $(ARTIFACTS)/report.json -junit '$(ARTIFACTS)/*.xml'

## runner-sim: the nightly workflow's steps as a GitHub-hosted runner runs them: a non-root user with
## sudo and the docker group, Docker running, the node image present (hack/runner-sim; run as root)
runner-sim:
	hack/runner-sim

## clean: remove _build and _artifacts (not the node image cache: see clean-cache)
clean:
	rm -rf _build _artifacts

## clean-cache: free the node-image build cache (~/.cache/k8s-conformance; the next cold build takes ~35 min)
## and say how much; the node images themselves stay in Docker (docker image ls k8s-conformance.local/kind-node)
clean-cache:
	@dir="$${NODE_IMAGE_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/k8s-conformance/nodeimage}"; \
	if [ ! -d "$$dir" ]; then echo "clean-cache: no node-image cache at $$dir"; exit 0; fi; \
	size=$$(du -sh "$$dir" | cut -f1); rm -rf "$$dir" && echo "clean-cache: freed $$size ($$dir)"
