# Entry points a newcomer needs; README.md shows them. Root is needed for
# network namespaces (process backend), /dev/kvm (hv) and dockerd (docker).

GO ?= go
BIN := bin/mvrun

.PHONY: build demo test bench clean

build:
	$(GO) build -o $(BIN) ./cmd/mvrun

# demo runs the buggy example: mvrun finds lost acknowledged writes, prints the
# failing property with a replay command, and exits 1.
demo: build
	./$(BIN) test examples/kvstore/spec.hcl

# test runs every test of both modules (the SDK is its own module).
test:
	$(GO) vet ./... && $(GO) test -count=1 -timeout 40m ./...
	cd sdk && $(GO) vet ./... && $(GO) test -count=1 ./...
	cd sdk/internal/benchcmp && $(GO) test -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./hv/... ./runner/network/... ./assertions/history/...
	cd sdk && $(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin .mvrun
