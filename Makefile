# Entry points a newcomer needs; README.md shows them. Root is needed for
# network namespaces (process backend), /dev/kvm (hv) and dockerd (docker).

GO ?= go
BIN := bin/mvrun

.PHONY: build demo test lint fuzz bench clean

build:
	$(GO) build -o $(BIN) ./cmd/mvrun

# demo runs the buggy example: mvrun finds lost acknowledged writes, prints the
# failing property with a replay command, and exits 1.
demo: build
	./$(BIN) test examples/kvstore/spec.hcl

# test runs every test of both modules (the SDK is its own module), then
# each fuzz target for FUZZTIME.
test:
	$(GO) vet ./... && $(GO) test -count=1 -timeout 40m ./...
	cd sdk && $(GO) vet ./... && $(GO) test -count=1 ./...
	cd sdk/internal/benchcmp && $(GO) test -count=1 ./...
	$(MAKE) fuzz

# fuzz runs each fuzz target for FUZZTIME beyond its seed corpus (which
# every go test runs). Longer: make fuzz FUZZTIME=10m. A crash found is
# written to the package's testdata/fuzz and stays a regression case.
# scripts/fuzz.sh runs a target again once when Go's coordinator fails on
# its own stop deadline without finding anything (golang/go#75804).
FUZZTIME ?= 10s
FUZZ_TARGETS := specs:FuzzLoadSpec specs:FuzzLoadCompose assertions:FuzzAdd faults:FuzzPlanDecode faults:FuzzSchedule
fuzz:
	@scripts/fuzz.sh $(GO) $(FUZZTIME) $(FUZZ_TARGETS)

# lint runs the static checks CI runs before the tests. .ci/run installs
# staticcheck and errcheck with `go install` at pinned versions; locally,
# run the same two `go install` lines (the tools land in $(go env GOPATH)/bin).
# errcheck covers the packages that touch the host (KVM, processes, Docker,
# namespaces), where a dropped error can leave the host or a run wrong; its
# production code only (-ignoretests: a test's cleanup that fails cannot
# make a passing test wrong). .ci/errcheck-exclude lists the few functions
# whose errors cannot matter there, each with why; every other ignored error
# is a `_ =` with a comment at the call.
STATICCHECK ?= $(shell command -v staticcheck || echo $(shell $(GO) env GOPATH)/bin/staticcheck)
ERRCHECK ?= $(shell command -v errcheck || echo $(shell $(GO) env GOPATH)/bin/errcheck)
HOSTPKGS := ./hv/... ./runner/process/... ./runner/docker/... ./runner/network/...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: these files are not gofmt'ed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(ERRCHECK) -ignoretests -exclude .ci/errcheck-exclude $(HOSTPKGS)
	cd sdk && $(GO) vet ./... && $(STATICCHECK) ./...
	cd sdk/internal/benchcmp && $(GO) vet ./... && $(STATICCHECK) ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./hv/... ./runner/network/... ./assertions/history/...
	cd sdk && $(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin .mvrun
