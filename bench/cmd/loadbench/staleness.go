package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// staleness starts two tiercache proxies, A and B, on one Redis in front of
// the origin and, for each sample, makes B hold a key in L1, PUTs the key
// through A and GETs it through B, back to back on one connection, until B
// answers the version A's PUT made. The lag runs from A's answer to B's
// first fresh answer, so it includes that answer's round trip, a fill from
// the origin when B dropped the key. The stale window is bounded below by
// when the last GET that got the old version was sent.
func staleness(ctx context.Context, c config, stdout, stderr io.Writer) error {
	e, err := newEnv(c, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	bin, err := e.buildTiercache()
	if err != nil {
		return err
	}
	r, err := e.startRedis("redis", e.c.serverCPU)
	if err != nil {
		return err
	}
	a, err := e.startTiercache("tiercache-a", bin, r.URL(), e.c.serverCPU)
	if err != nil {
		return err
	}
	b, err := e.startTiercache("tiercache-b", bin, r.URL(), e.c.serverCPU)
	if err != nil {
		return err
	}
	const timeout = 5 * time.Second
	var lags, hitRTT, staleSent []time.Duration
	var polls []int
	freshFirst, timeouts, notHit := 0, 0, 0
	for i := range c.samples {
		if err := ctx.Err(); err != nil {
			return err
		}
		path := "/item/" + strconv.Itoa(i%c.keys)
		var cs string
		for j := range 2 {
			t := time.Now()
			status, h, _, err := get(b.url+path, []byte("Cache-Status"))
			if err != nil || status != 200 {
				return fmt.Errorf("proxy b: GET %s: status %d, %v", path, status, err)
			}
			if j == 1 {
				cs = h
				hitRTT = append(hitRTT, time.Since(t))
			}
		}
		if !b.hit(cs) {
			notHit++
		}
		status, _, body, err := do("PUT", a.url+path, nil)
		if err != nil || status != 200 {
			return fmt.Errorf("proxy a: PUT %s: status %d, %v", path, status, err)
		}
		want, ok := version(body)
		if !ok {
			return fmt.Errorf("proxy a: PUT %s: no version in %q", path, body)
		}
		acked := time.Now()
		for n := 1; ; n++ {
			sent := time.Since(acked)
			_, _, body, err := get(b.url+path, nil)
			if err != nil {
				return fmt.Errorf("proxy b: GET %s: %v", path, err)
			}
			if v, ok := version(body); ok && v >= want {
				lags, polls = append(lags, time.Since(acked)), append(polls, n)
				if n == 1 {
					freshFirst++
				}
				break
			}
			if n == 1 {
				staleSent = append(staleSent, 0)
			}
			staleSent[len(staleSent)-1] = sent
			if time.Since(acked) > timeout {
				timeouts++
				break
			}
		}
	}
	slices.Sort(lags)
	slices.Sort(hitRTT)
	slices.Sort(staleSent)
	pct := func(xs []time.Duration, p float64) time.Duration {
		if len(xs) == 0 {
			return 0
		}
		return xs[min(len(xs)-1, int(p*float64(len(xs))))]
	}
	us := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
	var table strings.Builder
	fmt.Fprintln(&table, "| samples | fresh at B's first GET | ack to fresh p50 | p99 | max | last stale GET sent, p50 / p99 / max | timeouts (>5s) | B hit round trip p50 |")
	fmt.Fprintln(&table, "|--:|--:|--:|--:|--:|--:|--:|--:|")
	fmt.Fprintf(&table, "| %d | %d | %v | %v | %v | %v / %v / %v | %d | %v |\n", c.samples, freshFirst, us(pct(lags, 0.5)), us(pct(lags, 0.99)),
		us(pct(lags, 1)), us(pct(staleSent, 0.5)), us(pct(staleSent, 0.99)), us(pct(staleSent, 1)), timeouts, us(pct(hitRTT, 0.5)))
	fmt.Fprint(stdout, table.String())
	if notHit > 0 {
		fmt.Fprintf(stderr, "loadbench: B's second GET was not a hit in %d samples\n", notHit)
	}
	if c.out == "" {
		return nil
	}
	md := fmt.Sprintf("Measured %s with `loadbench -mode staleness -samples %d` (make bench-full).\n\n%s",
		time.Now().UTC().Format(time.RFC3339), c.samples, table.String())
	return writeReport(c.out, md, map[string]any{
		"loadavg_end": loadavg(), "samples": c.samples, "fresh_at_first_get": freshFirst, "timeouts": timeouts,
		"not_hit_before_put": notHit, "lag_ns": lags, "polls_max": slices.Max(append(polls, 0)),
		"stale_sent_ns": staleSent, "p50_ns": pct(lags, 0.5), "p99_ns": pct(lags, 0.99), "max_ns": pct(lags, 1), "b_hit_rtt_p50_ns": pct(hitRTT, 0.5),
	})
}

// version returns the version an item's body names.
func version(body []byte) (uint64, bool) {
	_, rest, ok := bytes.Cut(body, []byte(`"version":`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	v, err := strconv.ParseUint(string(rest[:end]), 10, 64)
	return v, err == nil
}
