package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

const wrkOutput = `Running 10s test @ http://127.0.0.1:40001
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   612.04us  301.50us  12.80ms   91.02%
    Req/Sec   104.53k     4.10k  110.20k    72.00%
  Latency Distribution
     50%  560.00us
     75%  690.00us
     90%  810.00us
     99%    1.52ms
  1040123 requests in 10.00s, 312.50MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec: 104012.30
Transfer/sec:     31.25MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{Requests: 1040123, Elapsed: 10 * time.Second, RPS: 104012.30,
		P50: 560 * time.Microsecond, P75: 690 * time.Microsecond, P90: 810 * time.Microsecond,
		P99: 1520 * time.Microsecond, Non2xx3xx: 7, SocketErrors: 3}
	if r != want {
		t.Errorf("parseWrk = %+v, want %+v", r, want)
	}
}

func TestParseWrkMissing(t *testing.T) {
	noLatency := strings.ReplaceAll(wrkOutput, "  Latency Distribution\n", "")
	noLatency = strings.Split(noLatency, "     50%")[0] + "  1040123 requests in 10.00s, 312.50MB read\nRequests/sec: 1\n"
	for name, out := range map[string]string{
		"empty":      "",
		"no latency": noLatency,
		"bad unit":   strings.Replace(wrkOutput, "1.52ms", "1.52zz", 1),
		"no rps":     strings.Replace(wrkOutput, "Requests/sec", "Reqs", 1),
	} {
		if _, err := parseWrk(out); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestWrkDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"812.00us": 812 * time.Microsecond, "1.20ms": 1200 * time.Microsecond,
		"2.00s": 2 * time.Second, "1.50m": 90 * time.Second,
	} {
		if got, err := wrkDuration(s); err != nil || got != want {
			t.Errorf("wrkDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.mode != "bench" || c.rounds != 3 || c.duration != 10*time.Second || c.connections != 64 ||
		c.origin != "go" || len(c.targets) != 5 || len(c.workloads) != 2 || c.out != "bench/results/proxy.json" {
		t.Errorf("defaults: %+v", c)
	}
	c, err = parseFlags([]string{"-targets", "varnish, bare", "-mode", "staleness", "-varnish-params", "thread_pools=1, thread_pool_min=10"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.targets, ",") != "bare,varnish" || c.out != "bench/results/proxy-staleness.json" ||
		strings.Join(c.varnishArgs, " ") != "-p thread_pools=1 -p thread_pool_min=10" {
		t.Errorf("targets %v, out %q, varnish %q", c.targets, c.out, c.varnishArgs)
	}
	c, err = parseFlags([]string{"-origin", "flask"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.targets, ",") != "origin,tiercache,nginx,varnish" || c.out != "bench/results/proxy-flask.json" {
		t.Errorf("-origin flask: targets %v, out %q", c.targets, c.out)
	}
	c, err = parseFlags([]string{"-mode", "instances"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.out != "bench/results/instances.json" {
		t.Errorf("-mode instances: out %q", c.out)
	}
	for _, args := range [][]string{
		{"-mode", "fast"},
		{"-origin", "php"},
		{"-origin", "flask", "-targets", "bare,tiercache"},
		{"-origin", "flask", "-mode", "staleness"},
		{"-origin", "flask", "-origin-delay", "1ms"},
		{"-mode", "origin"},
		{"-duration", "500ms"},
		{"-rounds", "0"},
		{"-connections", "0"},
		{"-threads", "4", "-connections", "2"},
		{"-keys", "0"},
		{"-put-percent", "0"},
		{"-put-percent", "100"},
		{"-origin-delay", "-1s"},
		{"-samples", "0"},
		{"-targets", "haproxy"},
		{"-targets", ""},
		{"-workloads", "read"},
		{"-server-cpu", "-2"},
		{"-varnish-params", "thread_pools"},
		{"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestVersion(t *testing.T) {
	body := appendItem(nil, 42, 7)
	if len(body) != itemSize {
		t.Errorf("item body is %d bytes, want %d", len(body), itemSize)
	}
	if v, ok := version(body); !ok || v != 7 {
		t.Errorf("version = %d, %v", v, ok)
	}
}
