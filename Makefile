# slokeeper: `make run` starts the server on the embedded default,
# `make test` runs every test (PostgreSQL ones whenever a server is reachable).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: run test lint bench build fuzz

## run: start slokeeper serve on the embedded default (SQLite in ./slokeeper-data, http://127.0.0.1:8080);
## ARGS are serve's flags, e.g. make run ARGS='--listen 127.0.0.1:9090'
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/slokeeper serve $(ARGS)

## test: all tests with the race detector; starts a local PostgreSQL if one is installed
test:
	@scripts/ensure-services
	$(GO) test -race -count=1 -timeout 25m ./...

## lint: go vet, gofmt and staticcheck
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

## bench: every Go benchmark, with allocations
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## build: a static binary in bin/slokeeper
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/slokeeper ./cmd/slokeeper

FUZZTIME ?= 30s

## fuzz: run every fuzz target for FUZZTIME each (default 30s)
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test $$pkg -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s || exit 1; \
	  done; \
	done
