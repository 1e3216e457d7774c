# Entry points a newcomer needs; README.md shows them. Root is needed for
# network namespaces (process backend), /dev/kvm (hv) and dockerd (docker).

GO ?= go
BIN := bin/mvrun

.PHONY: build demo test fuzz bench clean

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
FUZZTIME ?= 10s
FUZZ_TARGETS := specs:FuzzLoadSpec specs:FuzzLoadCompose assertions:FuzzAdd faults:FuzzPlanDecode faults:FuzzSchedule
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./hv/... ./runner/network/...
	cd sdk && $(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin .mvrun
