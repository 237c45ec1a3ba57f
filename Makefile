GO ?= go

.PHONY: test fmt-check vet unit build fuzz bench

# The one command CI runs (through .ci/run): formatting, vet, and every test
# under the race detector, integration tests included, then the README's
# Quick start run verbatim (scripts/readme-commands.sh).
test: fmt-check vet
	./scripts/test-deps.sh
	$(GO) test -race -count=1 ./...
	ABUSEWATCH_TEST_STORE=postgres $(GO) test -race -count=1 ./store/...
	./scripts/readme-commands.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

build:
	$(GO) build -o bin/abusewatch ./cmd/abusewatch

# Unit tests only, quick.
unit:
	$(GO) test -short ./...

fuzz:
	$(GO) test ./parser -run '^$$' -fuzz FuzzParse -fuzztime 10m

bench:
	$(GO) test ./parser -run '^$$' -bench . -benchmem -cpu 1
