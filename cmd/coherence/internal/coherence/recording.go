package coherence

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Recording is everything a run observed: the input of the checks. It is
// saved as gzipped JSON lines (history.jsonl.gz in the run directory) so
// that a run can be checked again (coherence -replay) and its evidence
// read (zcat, jq).
type Recording struct {
	Redis   string              `json:"redis,omitempty"` // RedisSingle (also when empty) or RedisCluster
	Mode    string              `json:"mode,omitempty"`  // ModeService (also when empty) or ModeProxy
	Seed    uint64              `json:"seed"`
	Started time.Time           `json:"started"` // wall clock at time 0 of the ops and faults
	Elapsed time.Duration       `json:"elapsed_ns"`
	Faults  []Fault             `json:"faults"`
	Final   map[string]State    `json:"final"`   // the store after the load
	Answers map[string][]Answer `json:"answers"` // the instances' last convergence round
	Rounds  int                 `json:"rounds"`
	Ops     []Op                `json:"-"` // one line each, after the header
}

// Write saves the recording: a header line, then one line per op.
func (rec *Recording) Write(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot write history: %w", err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed) // the level is valid
	bw := bufio.NewWriterSize(zw, 1<<16)
	enc := json.NewEncoder(bw)
	err = enc.Encode(rec)
	for i := 0; err == nil && i < len(rec.Ops); i++ {
		err = enc.Encode(&rec.Ops[i])
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write history: %w", err)
	}
	return nil
}

// ReadRecording loads a recording that Write saved.
func ReadRecording(path string) (*Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read history: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("cannot read history %s: %w", path, err)
	}
	dec := json.NewDecoder(zr)
	rec := &Recording{}
	if err := dec.Decode(rec); err != nil {
		return nil, fmt.Errorf("cannot read history %s: %w", path, err)
	}
	for dec.More() {
		var op Op
		if err := dec.Decode(&op); err != nil {
			return nil, fmt.Errorf("cannot read history %s: %w", path, err)
		}
		if op.ID != len(rec.Ops) {
			return nil, fmt.Errorf("cannot read history %s: op %d out of order", path, op.ID)
		}
		rec.Ops = append(rec.Ops, op)
	}
	return rec, nil
}
