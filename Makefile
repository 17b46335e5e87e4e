# remediator: `make run` runs the daemon on its embedded defaults in dry-run,
# `make test` runs every check and test (CI runs exactly this).
GO        ?= go
BIN       ?= bin/remediator
PKG       := github.com/remediator/remediator
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w \
	-X github.com/prometheus/common/version.Version=$(VERSION) \
	-X github.com/prometheus/common/version.Revision=$(REVISION) \
	-X github.com/prometheus/common/version.Branch=$(BRANCH)
FUZZTIME  ?= 30s
# The real control plane for the Kubernetes integration tests, built from the
# Go module proxy and cached by version outside the work tree.
K8S_VERSION ?= 1.37.2
K8S_TESTBIN ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/remediator/k8s-v$(K8S_VERSION)

.PHONY: all build run test check fmt-check vet staticcheck unit policy-test opa-test fuzz bench services testbin clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/remediator

## run: the daemon on its embedded defaults (127.0.0.1:9095, bundled policy and runbooks) in dry-run:
## --dry-run, so that it acts on nothing even with KUBECONFIG or REMEDIATOR_POSTGRES_DSN in the
## environment (cmd/remediator's TestMakeRunNeverActs checks this recipe)
run: build
	$(BIN) serve --dry-run

## test: every check and test; CI runs this (go test last, so its summary closes the output)
test: check services policy-test opa-test unit

check: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) tool staticcheck ./...

# The Kubernetes tests start a real kube-apiserver, etcd and
# kube-controller-manager from $(K8S_TESTBIN); they fail, never skip, without it.
unit: testbin
	K8S_TESTBIN=$(K8S_TESTBIN) $(GO) test -race -count=1 -timeout=25m ./...

## policy-test: the bundled Rego tests through remediator's own runner (as users run it)
policy-test: build
	$(BIN) policy test -v --coverage --threshold=100 >/dev/null
	$(BIN) policy test

## opa-test: the same Rego tests through the upstream opa CLI
opa-test:
	$(GO) tool opa check --strict policies/
	$(GO) tool opa test -v policies/

## services: make sure PostgreSQL and Redis are up (tests of later backends use them)
services:
	sh hack/services.sh

## testbin: kube-apiserver, kube-controller-manager and etcd for the Kubernetes tests (cached)
testbin:
	sh hack/build-k8s-testbin.sh $(K8S_VERSION) $(K8S_TESTBIN)

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=$(FUZZTIME) ./receiver/

bench: services
	$(GO) test -run='^$$' -bench=. -benchmem -count=5 ./policies/ ./receiver/
	$(GO) test -run='^$$' -bench=ConnectionReport -benchmem -count=3 ./remediations/postgres/
	$(GO) test -run='^$$' -bench=. -benchtime=5x ./remediations/redis/

clean:
	rm -rf bin
