package coherence

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestRecordingRoundTrip(t *testing.T) {
	t.Parallel()
	var h hist
	h.reg(0, "a@x", 0, 10, 201)
	h.get(1, "a@x", 20, 25)
	h.ops[1].CacheStatus = "tiercache; hit; detail=l1"
	h.del(2, 30, 35, 0)
	h.ops[2].Err, h.ops[2].Gen = "EOF", 1
	want := &Recording{
		Mode: ModeProxy, Seed: 7, Started: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Elapsed: 20 * time.Second, Ops: h.ops, Rounds: 1,
		Faults:  []Fault{{Kind: InstanceKill, Start: 32 * ms, End: 40 * ms, Instance: 2, Gen: 1}},
		Final:   map[string]State{"k": {Exists: true, Email: "a@x"}},
		Answers: map[string][]Answer{"k": {{Instance: 0, Status: 200, Email: "a@x"}}},
	}
	path := filepath.Join(t.TempDir(), "history.jsonl.gz")
	if err := want.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRecording(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v; want %+v", got, want)
	}
}
