# tiercache: `make run` serves on :5000, `make test` installs what the tests
# need and runs them all.

GO        ?= go
FUZZTIME  ?= 10s

.PHONY: run test deps check unit fuzz allocs bench build clean coherence

## run: serve on :5000 (embedded store in ./data; Redis at 127.0.0.1:6379 when it answers)
run:
	$(GO) run ./cmd/tiercache

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/tiercache ./cmd/tiercache

## test: install redis-server and PostgreSQL if missing, then static checks, race tests, fuzzing, alloc tests
test: deps check unit allocs fuzz

deps:
	@./internal/scripts/install-deps.sh

check:
	@echo "== gofmt, go vet, staticcheck"
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

unit:
	@echo "== go test -race"
	$(GO) test -race -count=1 -timeout 15m ./...

## allocs: the zero-allocation tests (they are compiled out under -race)
allocs:
	@echo "== allocation tests"
	$(GO) test -count=1 -run 'Alloc' ./core/... ./server/...

fuzz:
	@echo "== fuzzing ($(FUZZTIME) per target)"
	$(GO) test -run '^$$' -fuzz '^FuzzParseBody$$' -fuzztime $(FUZZTIME) ./server/
	$(GO) test -run '^$$' -fuzz '^FuzzHandler$$' -fuzztime $(FUZZTIME) ./server/

## coherence: 3 instances on one Redis and one PostgreSQL, 60 s of racing clients and
## faults; checks staleness bounds, read-your-writes, lost writes, linearizability
coherence: deps
	$(GO) run ./cmd/coherence -duration 60s

## bench: the benchmark suite in bench/ (about 10 minutes on 2 cores); raw results,
## the run's environment and a redis-benchmark baseline go to bench/results/, the
## tables to BENCHMARKS.md
bench: deps
	GO=$(GO) ./bench/run.sh

clean:
	rm -rf bin
