# The two commands a newcomer needs are `make demo` and `make test`; the rest serve them.
SHELL   := /bin/bash
GO      ?= go
ARCH    ?= $(shell $(GO) env GOARCH)
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
PACK    := $(GO) run ./cmd/charmpack -version $(VERSION) -arch $(ARCH)

.PHONY: all charm hooks docs demo test test-short vet bench clean image

all: charm

## charm: build postgresql.charm (and the test clients, postgresql-client.charm and database-client.charm) for ARCH (default: this machine's)
charm:
	$(PACK) -src . -main ./cmd/postgresql-charm -o postgresql.charm
	$(PACK) -src tests/charms/postgresql-client -main ./tests/charms/postgresql-client -o postgresql-client.charm
	$(PACK) -src tests/charms/database-client -main ./tests/charms/database-client -o database-client.charm

## hooks: rewrite the committed hooks/ symlinks from metadata.yaml
hooks:
	$(GO) run ./cmd/charmpack -src . -hooks hooks

## docs: regenerate the configuration and action reference in README.md
docs:
	$(GO) run ./cmd/charmdocs README.md

## image: build jujusim's machine image (debootstrapped Debian 12 with systemd; once per recipe)
image:
	$(GO) run ./cmd/jujusim image build

## demo: the seed walkthrough end to end on jujusim (root)
demo:
	./tests/demo/run $(if $(CHAPTER),--chapter $(CHAPTER))

## test: set-up (as root: tests/setup/*.sh and the machine image, quick once done), go vet,
## then every test, packages one at a time (their end-to-end tests each load both cores),
## ending with a one-line summary of skipped tests and why.
test:
	./tests/run

## test-short: unit tests only
test-short:
	$(GO) test -short -count=1 ./...

vet:
	$(GO) vet ./...

## bench: benchmarks against peers, printed as a table; then the failover bench (pgbench with
## synchronous_standbys 0 and 1, crash-to-first-write; skipped with the reason without root)
bench:
	./internal/archive/bench/run.sh
	./tests/e2e/bench-failover.sh

clean:
	rm -f postgresql.charm postgresql-client.charm database-client.charm
