# Syncprint. `make run` starts a server on an embedded bbolt store in ./data;
# `make test` runs every test (with the race detector).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
GO      ?= go
ADDR    ?= 127.0.0.1:7070
DATA    ?= ./data
ARGS    ?=

.PHONY: run build peer test test-short test-race lint fmt vet staticcheck deps-check bench microbench vectors conformance clean fuzz fuzz-smoke fuzz-seeds sim-soak

run: build
	./bin/syncprint serve --addr $(ADDR) --data $(DATA) $(ARGS)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/syncprint ./cmd/syncprint

# test runs every test, the benchmark harness's peer among them: it
# installs the peer (PouchDB, from its lock file) first, and the peer test
# fails rather than skips if it is missing.
test: peer
	SYNCPRINT_BENCH_PEER=1 $(GO) test -race -count=1 -timeout 30m ./...

# peer installs the benchmark's peer (bench/peers/pouchdb) with npm ci when
# its node_modules is missing or older than its lock file.
peer: bench/peers/pouchdb/node_modules/.package-lock.json

bench/peers/pouchdb/node_modules/.package-lock.json: bench/peers/pouchdb/package-lock.json
	npm ci --prefix bench/peers/pouchdb --no-audit --no-fund

test-short:
	$(GO) test -short -count=1 ./...

# test-race is kept as an alias: `make test` already runs with -race.
test-race: test

lint: fmt-check vet staticcheck deps-check

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Desktop devices run Windows and macOS: everything must build and vet there too.
vet:
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	GOOS=darwin $(GO) vet ./...

staticcheck:
	$(GO) tool staticcheck ./...

# Dependencies point one way (see ../shared/STYLE.md): the contract packages
# never import the server or the client, and each third-party dependency
# stays in the package that needs it.
deps-check:
	@./.ci/deps-check

# bench runs `syncprint bench`: Syncprint and the peer (PouchDB, installed
# from bench/peers/pouchdb/package-lock.json with npm ci when missing; needs
# Node.js 18+) side by side on the issue's workloads, with a table on the
# terminal and the figures and chart in $(BENCH_OUT). BENCH_ARGS passes
# flags, e.g. BENCH_ARGS='--systems syncprint' or '--runs 9'.
BENCH_OUT  ?= bench/out
BENCH_ARGS ?=
bench: build
	@mkdir -p $(BENCH_OUT)
	./bin/syncprint bench --install --json $(BENCH_OUT)/bench.json --svg $(BENCH_OUT)/bench.svg $(BENCH_ARGS)

# microbench runs the Go micro-benchmarks (fingerprint, codec, change-info
# intersection, store commits, exchange, end-to-end sync); compare two runs
# with benchstat.
microbench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

vectors:
	$(GO) run ./internal/vectorgen -out spec/vectors

# conformance starts `syncprint serve` on a free loopback port (temporary data
# dir, one collection per precedence rule), runs the conformance suite against
# it and writes JUnit and JSON reports to ./conformance-report/. CONFORM_ARGS
# passes flags to `syncprint conform server`, e.g. CONFORM_ARGS=--strict.
CONFORM_ARGS ?=
conformance: build
	./conformance/run-local.sh ./bin/syncprint ./conformance-report $(CONFORM_ARGS)

# fuzz runs every fuzz target (found by grepping for func Fuzz) for
# FUZZTIME each, one after the other; fuzz-smoke is the short run CI makes
# (2s a target, 8s for the two handler targets).
# FUZZ_MATCH=serverd limits either to packages whose path matches.
FUZZTIME ?= 10m
fuzz:
	FUZZTIME=$(FUZZTIME) ./.ci/fuzz-smoke

fuzz-smoke:
	FUZZTIME=2s ./.ci/fuzz-smoke

# fuzz-seeds rewrites the generated seed corpora (testdata/fuzz/*/seed-*)
# from the spec's vectors and the seed lists of TestFuzzSeedsAreUpToDate.
fuzz-seeds:
	SYNCPRINT_UPDATE_FUZZ_SEEDS=1 $(GO) test -count=1 -run '^TestFuzzSeedsAreUpToDate$$' ./...

# sim-soak runs the deterministic simulation (internal/sim) for SIM_SEEDS
# seeds from SIM_SEED, on a tmpfs when there is one; it stops at the first
# failure and prints the command that replays it.
SIM_SEED  ?= 1
SIM_SEEDS ?= 100000
sim-soak: build
	./bin/syncprint sim --seed $(SIM_SEED) --runs $(SIM_SEEDS) --parallel 2 $(if $(wildcard /dev/shm),--dir /dev/shm)

clean:
	rm -rf bin conformance-report bench/out
