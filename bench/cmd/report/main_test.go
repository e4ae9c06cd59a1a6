package main

import (
	"strings"
	"testing"
)

const raw = `goos: linux
pkg: github.com/tiercache/tiercache/bench
BenchmarkCore/l1-hit-2   	 5941381	       101.0 ns/op	         1.000 l1-hit-ratio	       0 B/op	       0 allocs/op
BenchmarkCore/l1-hit-2   	 5941381	       99.00 ns/op	         1.000 l1-hit-ratio	       0 B/op	       0 allocs/op
BenchmarkCore/l1-hit-2   	 5941381	       150.0 ns/op	         1.000 l1-hit-ratio	       0 B/op	       0 allocs/op
BenchmarkHTTP/bare-2     	  141642	      4000 ns/op	       1 B/op	       0 allocs/op
BenchmarkHTTP/l1-hit-2   	  134706	      4400 ns/op	         1.000 l1-hit-ratio	       1 B/op	       0 allocs/op
BenchmarkRegister/tiers=L1+L2/clients=64-2        	--- FAIL: BenchmarkRegister/tiers=L1+L2/clients=64
BenchmarkRegister/tiers=L1+L2/clients=64-2   	 26925	     38729 ns/op	     25820 creates/s	         4.000 redis-cmds/op	    5889 B/op	      81 allocs/op
BenchmarkConfigs/users=1M/dist=zipf1.2/tiers=L1+L2/l1=10%-2   	  100000	      2258 ns/op	         0.9200 l1-hit-ratio	         1.000 l2-hit-ratio	         0.3999 redis-cmds/op	    442841 req/s	         0 store-loads/op	     206 B/op	       2 allocs/op
PASS
`

func TestParseAndRender(t *testing.T) {
	r, err := parseRaw(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.stat("Core/l1-hit", "ns/op"); got.median != 101 || got.n != 3 || got.spread < 0.485 || got.spread > 0.486 {
		t.Errorf("got %+v; want median 101 of 3, spread 49/101", got)
	}
	if got := len(r["Register/tiers=L1+L2/clients=64"]["creates/s"]); got != 1 {
		t.Errorf("got %d register results; want 1 (the FAIL line is no result)", got)
	}
	if x, ok := r.ratio("HTTP/l1-hit", "HTTP/bare"); !ok || x != 1.1 {
		t.Errorf("got ratio %v, %v; want 1.1", x, ok)
	}
	doc := render(r, parseEnv("date: today\ncores: 2\ncommand: go test -bench .\nfailed: yes\n"),
		"# comment\n-c 1,\"GET\",\"15105.74\",\"0.064\",\"0.008\",\"0.071\",\"0.095\"\n")
	for _, want := range []string{
		"- cores: 2", "go test -bench .", "Some benchmarks of this run failed",
		"| `core` L1 hit: 0 allocs/op, ≤ 100 ns/op | 0 allocs/op, 101 ns ±49% | **missed** |",
		"| HTTP L1 hit, in-memory listener: 0 allocs/op, ≤ 1.15× bare | 0 allocs/op, 1.10× | met |",
		"| register, bbolt, 64 clients: ≥ 10,000/s | 25,820/s | met |",
		"| zipf1.2 | L1+L2 | 10% | 442,841/s | 2.26 µs | 2 | 92.0% | 100.0% | 0.40 | 0.000 | 1 |",
		"| `-c 1` | 15,106/s | 0.071 ms |",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("output lacks %q:\n%s", want, doc)
		}
	}
}
