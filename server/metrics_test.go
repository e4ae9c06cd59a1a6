package server

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestMetrics reads /metrics after a known sequence of reads and checks
// every counter it moved, in the Prometheus text format.
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	for i, s := range []step{
		register(kiranReq).is(201, registered),
		req("GET", "/user/kiran").is(200, fromStore),     // L1 miss, store load
		req("GET", "/user/kiran").is(200, fromCache),     // L1 hit
		req("GET", "/user/nobody").is(404, userNotFound), // L1 miss, store load of "not found"
		req("GET", "/user/nobody").is(404, userNotFound), // negative L1 hit
	} {
		resp := e.do(t, s)
		if resp.StatusCode() != s.status {
			t.Fatalf("step %d %s %s: got %d; want %d", i, s.method, s.path, resp.StatusCode(), s.status)
		}
		fasthttp.ReleaseResponse(resp)
	}
	resp := e.do(t, req("GET", "/metrics"))
	defer fasthttp.ReleaseResponse(resp)
	if resp.StatusCode() != 200 {
		t.Fatalf("GET /metrics: got %d; want 200", resp.StatusCode())
	}
	if got, want := string(resp.Header.ContentType()), "text/plain; version=0.0.4; charset=utf-8"; got != want {
		t.Errorf("Content-Type: got %q; want %q", got, want)
	}
	body := string(resp.Body())
	for _, line := range []string{
		"# TYPE tiercache_l1_reads_total counter",
		`tiercache_l1_reads_total{result="hit"} 2`,
		`tiercache_l1_reads_total{result="miss"} 2`,
		"tiercache_store_loads_total 2",
		"tiercache_store_errors_total 0",
		"tiercache_l2_rejected_total 0",
		"tiercache_l2_refused_total 0",
		"# TYPE tiercache_l2_queued_writes gauge",
		"tiercache_l2_queued_writes 0",
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("/metrics lacks the line %q; got:\n%s", line, body)
		}
	}
	// Every sample line is "name{labels} value", after its HELP and TYPE.
	typed := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if rest, ok := strings.CutPrefix(l, "# TYPE "); ok {
			typed[strings.Fields(rest)[0]] = true
			continue
		}
		if strings.HasPrefix(l, "# HELP ") {
			continue
		}
		name, _, _ := strings.Cut(l, " ")
		name, _, _ = strings.Cut(name, "{")
		if !typed[name] {
			t.Errorf("sample %q comes before its # TYPE line", l)
		}
	}
}
