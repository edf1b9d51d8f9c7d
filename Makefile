# cadbox: one static binary. `make run` serves on :8080 with ./data;
# `make test` runs every test with the race detector.

APP      ?= cadbox
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
GO       ?= go
BENCHTIME ?= 1x

.PHONY: all build run test test-short lint fmt vet bench clean dict web

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

## bench: the benchmarks behind the README's performance figures (CADBOX_BENCH_DOCS sets the size)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count 1 ./store/ ./search/ ./app/api/ ./app/analysis/ | tee bench.out

## web: rebuild the UI's committed assets (web/dist) from web/src
web:
	cd web && npm ci && npm run build

## dict: retrain the dictionary the store compresses records with (only with a new record format)
dict:
	$(GO) run ./store/internal/mkdict -o store/records.dict

clean:
	rm -rf bin bench.out
