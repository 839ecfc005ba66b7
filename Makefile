# Entry points. Logic lives in Go (cmd/, internal/); each target is one line.
SHELL := /bin/bash
ARTIFACTS ?= $(CURDIR)/_artifacts
IMAGES_DIR ?= $(CURDIR)/_build/images
NODE_IMAGE_SOURCE ?= auto
E2E_TIMEOUT ?= 45m
export ARTIFACTS IMAGES_DIR NODE_IMAGE_SOURCE

GOTESTSUM := go tool gotestsum

.PHONY: test bench docker node-image images cluster cluster-down cluster-clean smoke conformance leakcheck selftest selftest-static soak lint-workflows clean

## test: the static tier, every unit test, the bad-input table and the mutants' static half (no Docker, no cluster)
test:
	go test ./...

## bench: the static tier's benchmarks (checks over a loaded set, krusty and Helm renders, large input)
bench:
	go test ./internal/staticcheck ./internal/manifests -run '^$$' -bench . -benchmem

## docker: make sure a Docker engine answers and runs privileged containers here
docker:
	go run ./cmd/dockerhost

## node-image: the kind node image (named > hermetic present > upstream pull > built from source)
node-image: docker
	go run ./cmd/nodeimage -source $(NODE_IMAGE_SOURCE)

## images: the stub backend and frontend images into $(IMAGES_DIR)
images:
	go run ./cmd/stubimages -out $(IMAGES_DIR)

## cluster / cluster-down: a kind cluster to poke at (KUBECONFIG=_build/kubeconfig-dev)
cluster: docker
	go run ./cmd/cluster up
cluster-down:
	go run ./cmd/cluster down
## cluster-clean: remove every cluster a run kept or left behind
cluster-clean:
	go run ./cmd/cluster clean

## smoke: the hermetic cluster's own smoke test (cluster up, DNS, NodePort, PV/PVC, gone after)
smoke: docker node-image
	mkdir -p $(ARTIFACTS)
	$(GOTESTSUM) --format standard-verbose --junitfile $(ARTIFACTS)/junit-smoke.xml -- -tags smoke ./e2e/smoke -count=1 -v -timeout 20m

## conformance: the live tier against MANIFESTS_DIR (default manifests/); CHECKS=L-DNS,L-PVC runs
## only those (and what they need). JUnit, report.json/.html and evidence in $(ARTIFACTS); the run's
## output is kept in $(ARTIFACTS)/conformance.log and then checked for leaked fake Secret values.
CHECKS ?=
comma := ,
E2E_SELECT = $(if $(CHECKS),-args --labels $(subst $(comma),$(comma)id=,id=$(CHECKS)))
conformance: docker node-image images
	mkdir -p $(ARTIFACTS)
	set -o pipefail; $(GOTESTSUM) --format standard-verbose --junitfile $(ARTIFACTS)/junit.xml -- -tags e2e ./e2e -count=1 -v -timeout $(E2E_TIMEOUT) $(E2E_SELECT) 2>&1 | tee $(ARTIFACTS)/conformance.log; rc=$$?; $(MAKE) --no-print-directory leakcheck || rc=1; exit $$rc

## leakcheck: no fake value of fixtures/secrets.fake.env anywhere in $(ARTIFACTS), plain or encoded
leakcheck:
	LEAKCHECK_REQUIRE=1 go test ./internal/leakcheck -run '^TestNoFakeSecretInArtifacts$$' -count=1 -v

## selftest: prove the checks can fail: every mutant (fixtures/mutants) through the static tier, then
## a control run and each mutant's live checks in ONE kind cluster (SLOW=1 adds the slow mutants)
selftest: docker node-image images
	go run ./cmd/selftest
## selftest-static: the static half only (seconds; also part of make test)
selftest-static:
	go run ./cmd/selftest -static
## soak: RUNS full live runs back to back: pass rate, per-phase/probe spread; INTERRUPT=1 SEED=n
## interrupts each at a seeded moment and checks nothing is left behind
soak: docker node-image images
	go run ./cmd/soak

## lint-workflows: actionlint on .github/workflows (also part of `make test`)
lint-workflows:
	go tool actionlint

clean:
	rm -rf _build _artifacts
