package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		total, n int
		want     []int
	}{{64, 3, []int{22, 21, 21}}, {64, 1, []int{64}}, {3, 3, []int{1, 1, 1}}, {8, 3, []int{3, 3, 2}}} {
		if got := split(tc.total, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("split(%d, %d) = %v; want %v", tc.total, tc.n, got, tc.want)
		}
	}
}

// TestInstances runs -mode instances on tiny settings.
func TestInstances(t *testing.T) {
	t.Chdir("../../..")
	out := filepath.Join(t.TempDir(), "instances.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := run(ctx, []string{"-mode", "instances", "-rounds", "1", "-duration", "1s", "-keys", "50", "-connections", "6",
		"-wait-quiet", "0s", "-server-cpu", "-1", "-load-cpu", "-1", "-origin-cpu", "-1", "-out", out}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var report struct {
		Summary          []instancesRow
		Staleness        []staleRow
		Runs             []instancesRun
		StalenessSamples []staleSample `json:"staleness_samples"`
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &report); err != nil {
		t.Fatal(err)
	}
	if len(report.Summary) != 4 {
		t.Errorf("%d summary rows; want 4 (1 and 3 instances, hit and mixed)", len(report.Summary))
	}
	for _, r := range report.Summary {
		if r.RPS <= 0 || r.Errors != 0 {
			t.Errorf("%d instances %s: %v req/s, %d errors", r.Instances, r.Workload, r.RPS, r.Errors)
		}
	}
	for _, r := range report.Runs {
		if len(r.Wrk) != r.Instances {
			t.Errorf("%d instances %s: %d wrk results", r.Instances, r.Workload, len(r.Wrk))
		}
	}
	if len(report.Staleness) != 4 {
		t.Errorf("%d staleness rows; want 4 (readers b and c, hit and mixed)", len(report.Staleness))
	}
	for _, s := range report.Staleness {
		if s.Samples == 0 || s.Timeouts != 0 {
			t.Errorf("%s %s: %d samples, %d not fresh within 5s", s.Workload, s.Reader, s.Samples, s.Timeouts)
		}
	}
	if len(report.StalenessSamples) == 0 {
		t.Fatal("no staleness samples")
	}
	for _, s := range report.StalenessSamples {
		if !s.Fresh || s.Lag <= 0 || s.Polls < 1 {
			t.Errorf("sample %+v never saw the new body", s)
		}
	}
}
