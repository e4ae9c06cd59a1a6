package server

import (
	"strconv"

	"github.com/tiercache/tiercache/core"
	"github.com/valyala/fasthttp"
)

// ctMetrics is the Prometheus text exposition format, version 0.0.4.
var ctMetrics = []byte("text/plain; version=0.0.4; charset=utf-8")

// metric is one sample of the /metrics page; the samples of one name are
// consecutive and share help and kind.
type metric struct {
	name, help, kind string
	labels           string // `{result="hit"}`, or empty
	value            func(core.Stats) uint64
}

var metrics = []metric{
	{"tiercache_l1_reads_total", "Reads that L1 answered (hit) or passed on (miss).", "counter",
		`{result="hit"}`, func(s core.Stats) uint64 { return s.L1Hits }},
	{"tiercache_l1_reads_total", "", "", `{result="miss"}`, func(s core.Stats) uint64 { return s.L1Misses }},
	{"tiercache_l2_reads_total", "Reads of L2 (Redis) by result.", "counter",
		`{result="hit"}`, func(s core.Stats) uint64 { return s.L2Hits }},
	{"tiercache_l2_reads_total", "", "", `{result="miss"}`, func(s core.Stats) uint64 { return s.L2Misses }},
	{"tiercache_l2_errors_total", "L2 reads and writes that failed.", "counter",
		"", func(s core.Stats) uint64 { return s.L2Errors }},
	{"tiercache_l2_rejected_total", "Values L2 held wrongly (not what this cache writes, or a version no store write gave); each was answered from the store and replaced.", "counter",
		"", func(s core.Stats) uint64 { return s.L2Rejected }},
	{"tiercache_l2_refused_total", "L2 calls that Redis answered with a refusal (NOPERM, NOAUTH, WRONGPASS, READONLY, MASTERDOWN, LOADING, CLUSTERDOWN, MOVED, ASK), the breaker's probes included; each opens the breaker.", "counter",
		"", func(s core.Stats) uint64 { return s.L2Refused }},
	{"tiercache_store_loads_total", "Reads that went to the store.", "counter",
		"", func(s core.Stats) uint64 { return s.StoreLoads }},
	{"tiercache_store_errors_total", "Store reads that failed.", "counter",
		"", func(s core.Stats) uint64 { return s.StoreErrors }},
	{"tiercache_coalesced_reads_total", "Reads that shared another read's load instead of their own.", "counter",
		"", func(s core.Stats) uint64 { return s.Coalesced }},
	{"tiercache_l2_queued_writes", "Writes waiting to be published to L2 again.", "gauge",
		"", func(s core.Stats) uint64 { return s.Queued }},
}

// metrics answers /metrics from the cache's Stats.
func (s *Server) metrics(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentTypeBytes(ctMetrics)
	var st core.Stats
	if s.proxy != nil {
		st = s.proxy.Stats()
	} else {
		st = s.cache.Stats()
	}
	var b []byte
	for _, m := range metrics {
		if m.help != "" {
			b = append(b, "# HELP "+m.name+" "+m.help+"\n# TYPE "+m.name+" "+m.kind+"\n"...)
		}
		b = append(b, m.name+m.labels+" "...)
		b = strconv.AppendUint(b, m.value(st), 10)
		b = append(b, '\n')
	}
	ctx.Response.SetBodyRaw(b)
}
