# Fleetwire: the WebSocket fleet runtime and its Kubernetes operator.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
# The operator's and the runtime's image: one image with both binaries.
IMG     ?= ghcr.io/fleetwire/fleetwire:$(VERSION)
DOCKER  ?= docker
# The test budget is generous: CI must finish within 90 minutes on 2 cores.
TEST_TIMEOUT ?= 20m
CONTROLLER_GEN ?= $(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: fmt
fmt: ## Format the Go code.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: lint
lint: ## Run staticcheck (built once per version into the cache by hack/setup-staticcheck.sh).
	"$$(./hack/setup-staticcheck.sh)" ./...

.PHONY: build
build: ## Build every binary under cmd/ into bin/ (hack/build.sh, as the Dockerfile does; VERSION, COMMIT, DATE).
	VERSION='$(VERSION)' COMMIT='$(COMMIT)' DATE='$(DATE)' ./hack/build.sh $(BIN)

.PHONY: build-installer
build-installer: ## Render the one-file installer dist/install.yaml from config/default, for the image IMG.
	IMG='$(IMG)' ./hack/build-installer.sh

.PHONY: docker-build
docker-build: ## Build the image IMG (both binaries) with VERSION, COMMIT and DATE.
	$(DOCKER) build --build-arg VERSION='$(VERSION)' --build-arg COMMIT='$(COMMIT)' --build-arg DATE='$(DATE)' -t '$(IMG)' .

.PHONY: docker-push
docker-push: ## Push the image IMG.
	$(DOCKER) push '$(IMG)'

.PHONY: run-runtime
run-runtime: ## Run the runtime on its in-memory broker (dev mode without JWT_SECRET).
	$(GO) run ./cmd/runtime $(ARGS)

.PHONY: generate
generate: ## Generate deepcopy code for the API types.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: manifests
manifests: ## Generate the CRD and the operator's ClusterRole from the markers.
	$(CONTROLLER_GEN) rbac:roleName=fleetwire-operator crd paths=./api/... paths=./controllers/... output:crd:dir=config/crd/bases output:rbac:dir=config/rbac
	cp config/crd/bases/realtime.fleetwire.io_realtimeservices.yaml charts/fleetwire-operator/crds/
	cp config/rbac/role.yaml charts/fleetwire-operator/files/role.yaml

.PHONY: test-env
test-env: ## Make this machine ready for the tests: redis-server, and a cached kube-apiserver, etcd, kube-controller-manager, kwok and helm (idempotent).
	./hack/setup-test-env.sh
	./hack/setup-envtest.sh >/dev/null
	./hack/setup-cluster.sh >/dev/null
	./hack/setup-helm.sh >/dev/null

.PHONY: test
test: test-env vet lint ## Run every test, including the fuzz seed corpora, the envtest suite and end-to-end suites.
	KUBEBUILDER_ASSETS="$$(./hack/setup-envtest.sh 2>/dev/null)" FLEETWIRE_CLUSTER_ASSETS="$$(./hack/setup-cluster.sh 2>/dev/null)" HELM="$$(./hack/setup-helm.sh 2>/dev/null)" FLEETWIRE_KEDA_CRDS="$$(./hack/setup-keda.sh 2>/dev/null)" FLEETWIRE_ARTILLERY="$$(./hack/setup-artillery.sh 2>/dev/null)" FLEETWIRE_PROMETHEUS_OPERATOR_CRDS="$$(./hack/setup-prometheus-operator.sh 2>/dev/null)" $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

.PHONY: faults
faults: test-env ## Run the fault scenarios (docs/reliability.md) at full size where they have one: 1,000 clients for 60s of network drops, a reconnect storm of 19,500, a ten-minute soak, each attack from its own process for 10s, and the same scenarios against Centrifugo (built once by hack/setup-centrifugo.sh).
	FLEETWIRE_FAULTS=full FLEETWIRE_CENTRIFUGO="$$(./hack/setup-centrifugo.sh)" $(GO) test -count=1 -timeout 40m -v -run 'NetworkDrops|ReconnectStorm|Soak|Redis|HalfOpen|KilledNode|Republished|Slow|Oversized|Floods|Attachment|Compression|AttacksInAnotherProcess|Centrifugo' ./test/e2e/

.PHONY: test-race
test-race: test-env ## Run the tests with the race detector.
	KUBEBUILDER_ASSETS="$$(./hack/setup-envtest.sh 2>/dev/null)" FLEETWIRE_CLUSTER_ASSETS="$$(./hack/setup-cluster.sh 2>/dev/null)" HELM="$$(./hack/setup-helm.sh 2>/dev/null)" FLEETWIRE_KEDA_CRDS="$$(./hack/setup-keda.sh 2>/dev/null)" FLEETWIRE_ARTILLERY="$$(./hack/setup-artillery.sh 2>/dev/null)" $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

.PHONY: fuzz
fuzz: ## Fuzz each decoder (native frames, Engine.IO packets and payloads, Socket.IO packets) for FUZZTIME (default 30s) each.
	$(GO) test ./runtime/protocol -run '^$$' -fuzz FuzzJSONDecode -fuzztime $(or $(FUZZTIME),30s)
	$(GO) test ./runtime/engineio -run '^$$' -fuzz FuzzDecodePacket -fuzztime $(or $(FUZZTIME),30s)
	$(GO) test ./runtime/engineio -run '^$$' -fuzz FuzzDecodePayload -fuzztime $(or $(FUZZTIME),30s)
	$(GO) test ./runtime/socketio -run '^$$' -fuzz FuzzDecodePacket -fuzztime $(or $(FUZZTIME),30s)

.PHONY: bench
bench: ## Run the Go benchmarks.
	$(GO) test -run '^$$' -bench . -benchmem ./runtime/...

.PHONY: load
load: ## Run the load generator against a local runtime (hack/load.sh; LOAD_ARGS overrides the paced fan-out).
	./hack/load.sh $(LOAD_ARGS)

.PHONY: bench-diff
bench-diff: ## Compare Go benchmarks at BASE and in the work tree with benchstat (hack/bench-diff.sh; BENCH, PKGS, COUNT, BENCHTIME).
	./hack/bench-diff.sh $(BASE) $(PKGS)

.PHONY: bench-compare
bench-compare: ## Measure the runtime and Centrifugo side by side: idle memory and a paced fan-out (hack/bench-compare.sh; BENCH_* variables).
	./hack/bench-compare.sh

.PHONY: load-artillery
load-artillery: ## Run the Artillery Socket.IO scenario (test/load) against a local runtime (LOAD_DURATION, LOAD_RATE).
	./hack/load-artillery.sh

.PHONY: console-screenshots
console-screenshots: test-env ## Refresh docs/images/console/ with the screenshots the console's browser test takes (test/console).
	FLEETWIRE_ARTIFACTS=$(CURDIR)/docs/images $(GO) test -count=1 -run 'TestConsole' ./test/console/

.PHONY: clean
clean: ## Remove build output.
	rm -rf $(BIN)
