package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	c, replay, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil || replay != "" {
		t.Fatalf("got %v, %q; want defaults", err, replay)
	}
	if c.Duration != time.Minute || c.Instances != 3 || c.Clients != 12 || c.Keys != 8 || c.Seed == 0 {
		t.Errorf("got %+v; want 60s, 3 instances, 12 clients, 8 keys, a random seed", c)
	}
	// Clients outwait tiercache's worst case for a write (its store timeout).
	if c.Timeout <= c.Bounds.StoreTimeout || c.Bounds.StoreTimeout != 2*time.Second {
		t.Errorf("got timeout %v, store timeout %v; want 2s and a longer client timeout", c.Timeout, c.Bounds.StoreTimeout)
	}
	b := c.Bounds
	if b.Steady != 100*time.Millisecond || b.Stall != 2700*time.Millisecond || b.ConnLoss != 1800*time.Millisecond ||
		b.Kill != 100*time.Millisecond || b.LostWriter != 66*time.Minute || b.Drain != 700*time.Millisecond {
		t.Errorf("got bounds %+v; want 100ms, 2.7s, 1.8s, 100ms, 66m, 700ms", b)
	}
	if c.PorcupineTimeout < time.Minute {
		t.Errorf("got porcupine timeout %v; want at least 1m, so that normal runs decide", c.PorcupineTimeout)
	}

	// Bounds follow the stall and the steady bound unless set.
	c, _, _ = parseFlags([]string{"-stall", "1s", "-bound-steady", "50ms"}, &bytes.Buffer{})
	if c.Bounds.Stall != 1650*time.Millisecond || c.Bounds.ConnLoss != 1750*time.Millisecond || c.Bounds.Kill != 50*time.Millisecond ||
		c.Bounds.Drain != 650*time.Millisecond {
		t.Errorf("got bounds %+v; want stall 1.65s, conn-loss 1.75s, kill 50ms, drain 650ms", c.Bounds)
	}
	c, _, _ = parseFlags([]string{"-stall", "1s", "-bound-stall", "5s"}, &bytes.Buffer{})
	if c.Bounds.Stall != 5*time.Second {
		t.Errorf("got stall bound %v; want 5s as set", c.Bounds.Stall)
	}
}

// -redis cluster: a 1 s stall by default, under the node timeout, and the
// bounds that follow it; the failover bound is 3 s unless set.
func TestParseFlagsCluster(t *testing.T) {
	t.Parallel()
	c, _, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil || c.Redis != "single" || c.Bounds.Failover != 3*time.Second {
		t.Errorf("got %q, failover %v, %v; want single by default, 3s", c.Redis, c.Bounds.Failover, err)
	}
	c, _, err = parseFlags([]string{"-redis", "cluster"}, &bytes.Buffer{})
	if err != nil || c.Redis != "cluster" || c.Stall != time.Second || c.Bounds.Stall != 1700*time.Millisecond ||
		c.Bounds.Failover != 3*time.Second || c.Hold != 300*time.Millisecond || c.NodeDowntime != time.Second {
		t.Errorf("got %+v, %v; want cluster, stall 1s, stall bound 1.7s, failover 3s, hold 300ms, node downtime 1s", c, err)
	}
	c, _, err = parseFlags([]string{"-redis", "cluster", "-bound-failover", "5s", "-stall", "500ms"}, &bytes.Buffer{})
	if err != nil || c.Bounds.Failover != 5*time.Second || c.Stall != 500*time.Millisecond {
		t.Errorf("got failover %v, stall %v, %v; want 5s and 500ms as set", c.Bounds.Failover, c.Stall, err)
	}
	for _, args := range [][]string{{"-redis", "cluster", "-stall", "2s"}, {"-redis", "sentinel"}} {
		if _, _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q): got no error; want one", args)
		}
	}
}

// -mode: service by default; proxy on one Redis only.
func TestParseFlagsMode(t *testing.T) {
	t.Parallel()
	c, _, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil || c.Mode != "service" {
		t.Errorf("got %q, %v; want service by default", c.Mode, err)
	}
	c, _, err = parseFlags([]string{"-mode", "proxy", "-duration", "20s"}, &bytes.Buffer{})
	if err != nil || c.Mode != "proxy" || c.Redis != "single" || c.Duration != 20*time.Second {
		t.Errorf("got %q on %q, %v, %v; want proxy on single, 20s", c.Mode, c.Redis, c.Duration, err)
	}
	// The bounds are the user service's.
	def, _, _ := parseFlags(nil, &bytes.Buffer{})
	if c.Bounds != def.Bounds {
		t.Errorf("got bounds %+v; want the service's %+v", c.Bounds, def.Bounds)
	}
	for _, args := range [][]string{{"-mode", "proxy", "-redis", "cluster"}, {"-mode", "varnish"}, {"-mode", ""}} {
		if _, _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q): got no error; want one", args)
		}
	}
}

func TestRunExitStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-h"}, 0, "Exit status"},
		{[]string{"-nope"}, 2, "flag provided but not defined"},
		{[]string{"-clients", "0"}, 2, "must be positive"},
		{[]string{"extra"}, 2, "unexpected argument"},
		{[]string{"-redis", "cluster", "-stall", "3s"}, 2, "shorter than cluster-node-timeout"},
		{[]string{"-replay", "/nonexistent/history.jsonl.gz"}, 2, "cannot read history"},
		{[]string{"-mode", "proxy", "-redis", "cluster"}, 2, "not supported"},
		{[]string{"-mode", "nginx"}, 2, "want service or proxy"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.out) {
			t.Errorf("run(%q) = %d, stderr %q; want %d with %q", tc.args, code, stderr.String(), tc.code, tc.out)
		}
	}
}
