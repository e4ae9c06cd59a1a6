package coherence

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run: the summary table and its JSON.
type Report struct {
	RunDir string `json:"run_dir"`
	Redis  string `json:"redis"` // RedisSingle or RedisCluster
	Mode   string `json:"mode"`  // ModeService or ModeProxy
	// Kinds are the fault kinds of the run's schedule, as listed.
	Kinds    []FaultKind   `json:"kinds"`
	JSONPath string        `json:"-"`
	Seed     uint64        `json:"seed"`
	Started  time.Time     `json:"started"` // wall clock at time 0 of the ops and faults (ns since)
	Duration time.Duration `json:"duration_ns"`
	Bounds   Bounds        `json:"bounds_ns"`

	Ops       int                       `json:"ops"`
	OpsByKind map[string]map[string]int `json:"ops_by_kind"` // kind → outcome → count

	Faults       []Fault        `json:"faults"`
	FaultsByKind map[string]int `json:"faults_by_kind"`

	StaleReads int          `json:"stale_reads"`
	Staleness  []ClassStats `json:"staleness"`
	Outage     Outage       `json:"outage"`

	Linearizability []KeyResult `json:"linearizability"`
	Convergence     Convergence `json:"convergence"`

	ViolationsByKind map[string]int `json:"violations_by_kind"`
	// ViolationKeys are the users of each kind's violations, sorted: all
	// of them, although Violations keeps only 20 per kind.
	ViolationKeys map[string][]string `json:"violation_keys"`
	// Violations lists the broken promises, at most 20 per kind.
	Violations []Violation `json:"violations"`
	// Notes are findings that break no promise but deserve a look: keys
	// that did not converge because a killed writer never published.
	Notes []Violation `json:"notes,omitempty"`
	// Broken is true when any promise is broken: the exit status is 1.
	Broken bool `json:"broken"`
}

// Convergence is the final comparison of every instance with the store.
type Convergence struct {
	Keys      int `json:"keys"`
	Converged int `json:"converged"`
	Explained int `json:"explained"` // by a killed writer, within the L2 TTL bound
	Rounds    int `json:"rounds"`
}

// outcome names an op's result for the ops table.
func outcome(op *Op) string {
	switch {
	case op.NotSent:
		return "refused"
	case op.Status == 0:
		return "no-answer"
	}
	return strconv.Itoa(op.Status)
}

// countOps fills the ops table.
func (r *Report) countOps(ops []Op) {
	r.Ops = len(ops)
	r.OpsByKind = map[string]map[string]int{}
	for i := range ops {
		k := ops[i].Kind.String()
		if r.OpsByKind[k] == nil {
			r.OpsByKind[k] = map[string]int{}
		}
		r.OpsByKind[k][outcome(&ops[i])]++
	}
}

// addViolations records vs, keeping at most 20 of each kind.
func (r *Report) addViolations(vs []Violation) {
	if r.ViolationsByKind == nil {
		r.ViolationsByKind = map[string]int{}
	}
	if r.ViolationKeys == nil {
		r.ViolationKeys = map[string][]string{}
	}
	for _, v := range vs {
		if ks := r.ViolationKeys[v.Kind]; v.Key != "" && !slices.Contains(ks, v.Key) {
			ks = append(ks, v.Key)
			slices.Sort(ks)
			r.ViolationKeys[v.Kind] = ks
		}
		r.ViolationsByKind[v.Kind]++
		if r.ViolationsByKind[v.Kind] <= 20 {
			r.Violations = append(r.Violations, v)
		}
	}
	if len(vs) > 0 {
		r.Broken = true
	}
}

// WriteJSON writes the report to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func msf(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d >= time.Minute:
		return d.Round(time.Second).String()
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
}

// Print writes the summary table.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	line := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }
	left := func(s string) { tw.Flush(); fmt.Fprintln(w, s) }

	left(fmt.Sprintf("\n== coherence: mode %s, redis %s, %v, %d ops, seed %d, time 0 at %s, run dir %s",
		r.Mode, r.Redis, r.Duration.Round(time.Second), r.Ops, r.Seed, r.Started.UTC().Format("15:04:05.000"), r.RunDir))

	if r.Mode == ModeProxy {
		left(fmt.Sprintf("\nproxy mode: the instances are tiercache proxies %s in front of one origin, tiercache %s,\n"+
			"never faulted; kill-9 kills a proxy. The user service's bounds apply unchanged: an acknowledged write\n"+
			"has invalidated its URI and Location on every proxy, or queued that for the outbox, as a user-service\n"+
			"write has its value; the lost-writer bound is the proxies' -default-ttl.",
			strings.Join(ProxyArgs, " "), strings.Join(OriginArgs, " ")))
	}

	left("\nops by kind and outcome (HTTP status; no-answer: timeout or broken connection; refused: never sent)")
	outcomes := map[string]bool{}
	for _, m := range r.OpsByKind {
		for o := range m {
			outcomes[o] = true
		}
	}
	cols := make([]string, 0, len(outcomes))
	for o := range outcomes {
		cols = append(cols, o)
	}
	slices.Sort(cols)
	line(append([]string{"kind"}, cols...)...)
	for _, k := range []Kind{Get, Update, Register, Delete} {
		cells := []string{k.String()}
		for _, o := range cols {
			cells = append(cells, strconv.Itoa(r.OpsByKind[k.String()][o]))
		}
		line(cells...)
	}

	onCluster := r.Redis == RedisCluster
	if onCluster {
		left("\nfaults injected (a master kill ends with the promotion; unreplicated: bytes of the replication stream the promoted replica lacked, at least)")
		line("kind", "count", "max duration", "unreplicated")
	} else {
		left("\nfaults injected")
		line("kind", "count", "max duration")
	}
	for _, k := range r.Kinds {
		var longest time.Duration
		var lost int64
		for _, f := range r.Faults {
			if f.Kind == k {
				longest = max(longest, time.Duration(f.End-f.Start))
				lost = max(lost, f.Unreplicated)
			}
		}
		cells := []string{string(k), strconv.Itoa(r.FaultsByKind[string(k)]), msf(longest)}
		if onCluster {
			cells = append(cells, strconv.FormatInt(lost, 10))
		}
		line(cells...)
	}

	left("\nstale reads by class (of the fault around the ack of the earliest write each missed; staleness = read invoke − that ack, or − the promotion for an ack before a master kill ended)")
	line("class", "stale reads", "max", "p99", "bound", "beyond")
	for _, s := range r.Staleness {
		line(s.Class, strconv.Itoa(s.Count), msf(s.Max), msf(s.P99), msf(s.Bound), strconv.Itoa(s.Beyond))
	}

	if onCluster {
		left("\nGETs while a master was down (stall; kill until the promotion; until one probe interval after)")
	} else {
		left("\nGETs while Redis was down (restart, stall; until one probe interval after)")
	}
	line("GETs", "p50", "p99", "max", "p99 bound", "5xx/no answer")
	o := r.Outage
	line(strconv.Itoa(o.GETs), msf(o.P50), msf(o.P99), msf(o.Max), msf(o.Bound), strconv.Itoa(o.Errors))

	left("\nlinearizability (porcupine, per user; checked: answered ops less reads that others imply)")
	line("key", "ops", "checked", "result", "explanation", "time")
	for _, k := range r.Linearizability {
		line(k.Key, strconv.Itoa(k.Ops), strconv.Itoa(k.Checked), k.Result, k.Explanation, msf(k.Elapsed))
	}

	c := r.Convergence
	left(fmt.Sprintf("\nconvergence: %d/%d keys equal on every instance and in the store after %d rounds; %d explained by a killed writer",
		c.Converged, c.Keys, c.Rounds, c.Explained))

	left("\nviolations by kind")
	kinds := make([]string, 0, len(r.ViolationsByKind))
	for k := range r.ViolationsByKind {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range violationKinds {
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	line("kind", "count", "users")
	for _, k := range kinds {
		line(k, strconv.Itoa(r.ViolationsByKind[k]), strings.Join(r.ViolationKeys[k], " "))
	}
	tw.Flush()

	for _, v := range r.Violations {
		fmt.Fprintf(w, "\nVIOLATION %s %s: %s\n", v.Kind, v.Key, v.Detail)
		printOps(w, v.Ops)
	}
	for _, v := range r.Notes {
		fmt.Fprintf(w, "\nNOTE %s %s: %s\n", v.Kind, v.Key, v.Detail)
		printOps(w, v.Ops)
	}
	if r.Broken {
		fmt.Fprintln(w, "\nRESULT: promises broken")
	} else {
		fmt.Fprintln(w, "\nRESULT: every promise kept")
	}
	// One line in the form CI reads as a test runner's verdict: each kind
	// of violation is one check.
	failed := 0
	for _, k := range kinds {
		if r.ViolationsByKind[k] > 0 {
			failed++
		}
	}
	fmt.Fprintf(w, "coherence: %d passed, %d failed\n", len(kinds)-failed, failed)
}

// printOps writes evidence, one op a line, times in ms since the start.
func printOps(w io.Writer, ops []Op) {
	for _, op := range ops {
		ret, res := "…", outcome(&op)
		if op.Done() {
			ret = fmt.Sprintf("%.3f", float64(op.Return)/1e6)
		}
		if op.Out != "" {
			res += " " + op.Out
		}
		if op.Err != "" {
			res += " (" + op.Err + ")"
		}
		fmt.Fprintf(w, "    op %d client %d instance %d gen %d: %s %s %s [%.3f, %sms] → %s  Cache-Status: %s\n",
			op.ID, op.Client, op.Instance, op.Gen, op.Kind, op.Key, op.Email, float64(op.Invoke)/1e6, ret, res, op.CacheStatus)
	}
}
