# Entry points. Logic lives in Go (cmd/, internal/); each target is one line.
SHELL := /bin/bash
ARTIFACTS ?= $(CURDIR)/_artifacts
IMAGES_DIR ?= $(CURDIR)/_build/images
NODE_IMAGE_SOURCE ?= auto
E2E_TIMEOUT ?= 45m
export ARTIFACTS IMAGES_DIR NODE_IMAGE_SOURCE

GOTESTSUM := go tool gotestsum

.PHONY: test bench docker node-image images cluster cluster-down cluster-clean smoke conformance lint-workflows clean

## test: the static tier and every unit test (no Docker, no cluster, seconds)
test:
	go test ./...

## bench: the static tier's benchmark
bench:
	go test ./internal/staticcheck -run '^$$' -bench . -benchmem

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

## conformance: the live tier against MANIFESTS_DIR (default manifests/), JUnit in $(ARTIFACTS)
conformance: docker node-image images
	mkdir -p $(ARTIFACTS)
	$(GOTESTSUM) --format standard-verbose --junitfile $(ARTIFACTS)/junit.xml -- -tags e2e ./e2e -count=1 -v -timeout $(E2E_TIMEOUT)

## lint-workflows: actionlint on .github/workflows (also part of `make test`)
lint-workflows:
	go tool actionlint

clean:
	rm -rf _build _artifacts
