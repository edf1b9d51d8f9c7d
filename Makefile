# cadbox: one static binary. `make run` serves on :8080 with ./data;
# `make test` runs every test with the race detector.

APP      ?= cadbox
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
GO       ?= go
BENCHTIME ?= 1x

.PHONY: all build run test test-short lint fmt vet bench bench-go clean dict web soak soak-crash soak-load fuzz

include infra.mk

all: lint test build

## build: the static binary bin/cadbox (CGO_ENABLED=0)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/$(APP) .

## run: build and serve on :8080 with the data directory ./data
run: build
	./bin/$(APP) serve

## test: every test, race detector on (-race needs cgo; gcc is on the machine)
test:
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

test-short:
	$(GO) test -short -count=1 ./...

## lint: go vet and gofmt
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

fmt:
	gofmt -w .

## bench: bench/REPORT.md and its charts: every workload next to its raw limit, measured in one run
## (BENCH_DOCS, default 20000; BENCH_POSTS, BENCH_QUERIES, BENCH_CLIENTS: see bench/main.go). bench/ is its own
## module (chart dependencies stay out of the product); -mod=mod follows the product's go.mod as it changes.
bench: build
	cd bench && BENCH_BIN=$(CURDIR)/bin/$(APP) $(GO) run -mod=mod .

## bench-go: the packages' Go benchmarks (CADBOX_BENCH_DOCS sets the size), output in bench.out
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count 1 ./store/ ./search/ ./app/api/ ./app/analysis/ | tee bench.out

## soak: the long suites: 50 crash rounds, every fuzz target for FUZZ_EXECS executions, the 10-minute mixed load
soak: soak-crash fuzz soak-load

## soak-crash: SIGKILL the server at random moments, CRASH_ROUNDS times (default 50), and check nothing acknowledged is lost
CRASH_ROUNDS ?= 50
soak-crash:
	CADBOX_CRASH_ROUNDS=$(CRASH_ROUNDS) CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 90m -run 'TestCrash' -v .

## fuzz: every go test -fuzz target for FUZZ_EXECS executions each (default 1000000)
FUZZ_EXECS ?= 1000000
fuzz:
	FUZZ_EXECS=$(FUZZ_EXECS) bash ci/fuzz.sh

## soak-load: mixed writes, reads, searches and stats from 16 clients for SOAK_DURATION (default 10m)
SOAK_DURATION ?= 10m
soak-load:
	CADBOX_SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -timeout 60m -run 'TestSoak' -v .

## web: rebuild the UI's committed assets (web/dist) from web/src
web:
	cd web && npm ci && npm run build

## dict: retrain the dictionaries the store compresses records with (only with a new record format)
dict:
	$(GO) run ./store/internal/mkdict -dir store

clean:
	rm -rf bin bench.out
