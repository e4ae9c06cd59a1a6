# tiercache: `make run` serves on :5000 (with a private redis-server when no
# Redis answers), `make test` installs what the tests need and runs them all.

GO        ?= go
FUZZTIME  ?= 10s

# The Go modules: the library and its binary at the root; the benchmarks, the load tests (with
# the compose file's checks) and the coherence checker each in their own, so that their
# dependencies (gonum plot, compose-go, HdrHistogram, porcupine) are none of the library's
# users'. check and unit run in each. The tools are built in their module into bin/ and run
# from the root, where they find ./cmd/tiercache, bench/results and BENCHMARKS.md.
MODULES   := . bench loadtest cmd/coherence

.PHONY: run test deps check k6check unit fuzz allocs bench bench-full bench-proxy build clean coherence coherence-cluster coherence-proxy
.PHONY: stack loadtest loadtest-all

## run: build bin/tiercache and serve on :5000 (embedded store in ./data); L2 is the Redis on
## 127.0.0.1:6379, or, when none answers, a private redis-server started for the run and
## stopped after it (files in .run/). The server is exec'd: SIGTERM to make or to it stops it.
run:
	@GO=$(GO) exec ./internal/scripts/run.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/tiercache ./cmd/tiercache

## test: install redis-server, PostgreSQL, npm, nginx, Varnish and wrk if missing (make deps), then
## static checks, the k6 scripts' type check, race tests (the compose file's checks among them),
## alloc tests, fuzzing
test: deps check k6check unit allocs fuzz

## deps: apt-get install what is missing of redis-server, postgresql, npm, nginx-light, varnish and
## wrk (the caching proxies internal/launch starts, and the load generator of make bench)
deps:
	@./internal/scripts/install-deps.sh

check:
	@echo "== gofmt, go vet, staticcheck"
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@# staticcheck is a tool of the root module: its binary, run in every module.
	@sc=$$($(GO) tool -n staticcheck) || exit 1; \
	  for m in $(MODULES); do \
	    echo "$$m: $(GO) vet ./... && staticcheck ./..."; \
	    (cd $$m && $(GO) vet ./... && $$sc ./...) || exit 1; \
	  done

## k6check: type-check the k6 scripts against @types/k6 (npm ci into loadtest/k6/node_modules)
k6check:
	@echo "== k6 scripts"
	@./loadtest/k6/check.sh

unit:
	@echo "== go test -race"
	@failed=; for m in $(MODULES); do \
	  echo "$$m: $(GO) test -race -count=1 -timeout 15m ./..."; \
	  (cd $$m && $(GO) test -race -count=1 -timeout 15m ./...) || failed="$$failed $$m"; \
	done; \
	if [ -n "$$failed" ]; then echo "go test failed in:$$failed"; exit 1; fi

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
coherence: deps bin/coherence
	bin/coherence -duration 60s

## coherence-cluster: the same on a 6-node Redis Cluster given as one seed URL, with master
## kills (plain and with replication held back), the killed node's return, CLIENT KILL and
## SIGSTOP of a master, FLUSHALL of every master (.ci/run runs a 20 s form)
coherence-cluster: deps bin/coherence
	bin/coherence -redis cluster -duration 60s

## coherence-proxy: the same workload, faults and promises through 3 tiercache proxies
## (-default-ttl 1h) on one Redis, in front of one tiercache origin without caches on a
## memory store; kill -9 hits a proxy (.ci/run runs a 20 s form)
coherence-proxy: deps bin/coherence
	bin/coherence -mode proxy -duration 60s

# The tools, each built in its module into bin/ and run from the root. bin/coherence and
# bin/loadbench build ./cmd/tiercache of the root module themselves.
.PHONY: bin/coherence bin/loadbench bin/report
bin/coherence:
	$(GO) build -C cmd/coherence -o $(CURDIR)/bin/coherence .
bin/loadbench:
	CGO_ENABLED=0 $(GO) build -C bench -trimpath -o $(CURDIR)/bin/loadbench ./cmd/loadbench
bin/report:
	$(GO) build -C bench -o $(CURDIR)/bin/report ./cmd/report

## bench: the go benchmarks of bench/, a redis-benchmark baseline, and the load runs of
## bench/cmd/loadbench under wrk (the user service on PostgreSQL; the proxies in front of the Go
## origin and of the Flask service); about 15 minutes on 2 cores. Raw results and the run's
## environment go to bench/results/, the tables to BENCHMARKS.md, the charts to bench/charts/
bench: deps
	GO=$(GO) ./bench/run.sh

## bench-full: the same with 6 repetitions, BenchmarkConfigs at 1M users too, and the load runs
## that take longest: 1 against 3 proxies, cross-proxy staleness, the load-test scenarios
bench-full: deps
	GO=$(GO) ./bench/run.sh full

## bench-proxy: tiercache proxy, a bare fasthttp server, nginx proxy_cache and Varnish in front
## of one origin, under wrk in alternating rounds (about 3 minutes); the table goes to stdout,
## every round to bench/results/proxy.json. PROXYBENCH_FLAGS adds flags (-mode staleness: the
## cross-instance staleness of two proxies on one Redis)
PROXYBENCH_FLAGS ?=
bench-proxy: deps bin/loadbench
	bin/loadbench $(PROXYBENCH_FLAGS)

clean:
	rm -rf bin

## stack: redis-server on STACK_REDIS_PORT (6390) and tiercache on STACK_PORT (5000), on
## 127.0.0.1 without Docker, in the foreground (loadbench -mode stack): Ctrl-C, or SIGTERM to
## make, stops both; there is nothing to clean up, as the store lives in a temporary directory
## (each stack starts empty). STACK_PIN=1 runs both on CPU 0, leaving CPU 1 to loadgen: give
## make loadtest the same STACK_PIN=1.
STACK_PORT       ?= 5000
STACK_REDIS_PORT ?= 6390
STACK_PIN        ?= 0
stack: bin/loadbench
	exec bin/loadbench -mode stack -listen 127.0.0.1:$(STACK_PORT) -redis-port $(STACK_REDIS_PORT) \
	  $(if $(filter 1,$(STACK_PIN)),-server-cpu 0)

## loadtest: loadgen runs SCENARIO (read-heavy) in MODEL (open|closed) against the stack of
## make stack, in another terminal, on STACK_PORT (5000); with STACK_PIN=1 loadgen runs on CPU 1.
## DURATION overrides the scenario's, LOADGEN_FLAGS adds flags (loadgen -h); the summary goes to
## .loadtest/SCENARIO-MODEL.json (bench/results/loadtest holds only the complete runs of
## loadtest-all, which BENCHMARKS.md shows).
SCENARIO      ?= read-heavy
MODEL         ?= open
DURATION      ?=
LOADGEN_FLAGS ?=
loadtest:
	CGO_ENABLED=0 $(GO) build -C loadtest -trimpath -o $(CURDIR)/bin/loadgen ./cmd/loadgen
	$(if $(filter 1,$(STACK_PIN)),taskset -c 1 )bin/loadgen -target http://127.0.0.1:$(STACK_PORT) \
	  -scenario $(SCENARIO) -model $(MODEL) $(if $(DURATION),-duration $(DURATION)) \
	  -json .loadtest/$(SCENARIO)-$(MODEL).json $(LOADGEN_FLAGS)

## loadtest-all: every scenario in both models against tiercache, then against the bare fasthttp
## ceiling, in one run of loadbench -mode scenarios, which starts its own redis-server, tiercache
## and bare on CPU 0 and runs loadgen on CPU 1 (PIN=0: no pinning); DURATION (10s) per loadgen
## run, two runs per scenario and model; SCENARIOS=a,b and MODELS=closed run fewer; LOADGEN_FLAGS
## as for loadtest.
## The summaries replace those of bench/results/loadtest only when every run was carried out,
## thresholds met or not; BENCHMARKS.md is then regenerated if bench/results holds a benchmark run
## (raw.txt, from make bench). Exit status: 0 every threshold met, 1 one failed, 2 a run could
## not be carried out, 130 interrupted.
SCENARIOS ?=
MODELS    ?=
PIN       ?= 1
loadtest-all: bin/loadbench bin/report
	@status=0; bin/loadbench -mode scenarios $(if $(DURATION),-duration $(DURATION)) \
	  $(if $(SCENARIOS),-scenarios $(SCENARIOS)) $(if $(MODELS),-models $(MODELS)) \
	  $(if $(filter 0,$(PIN)),-server-cpu -1 -load-cpu -1) -loadgen-flags "$(LOADGEN_FLAGS)" || status=$$?; \
	if [ $$status -le 1 ] && [ -f bench/results/raw.txt ]; then \
	  bin/report -results bench/results -o BENCHMARKS.md || exit 2; \
	  echo "BENCHMARKS.md regenerated"; \
	fi; \
	exit $$status
