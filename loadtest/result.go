package loadtest

// Result is the summary of one load run: what loadgen -json writes and
// bench/cmd/report reads into BENCHMARKS.md. One scenario, under one load
// model, against one server (Label "tiercache" or "bare").
type Result struct {
	Scenario   string           `json:"scenario"`
	Model      string           `json:"model"` // "open" (a fixed arrival rate) or "closed" (a fixed number of VUs)
	Label      string           `json:"label"`
	Target     string           `json:"target"`
	Started    string           `json:"started"`    // RFC 3339, start of the measured phase
	DurationS  float64          `json:"duration_s"` // measured phase, until the last answer
	Rate       int              `json:"rate"`       // open model: target requests/s; closed: 0
	VUs        int              `json:"vus"`        // workers that ran (open: pre-allocated and added)
	Requests   int64            `json:"requests"`   // answered or failed; not dropped
	RPS        float64          `json:"rps"`        // Requests / DurationS
	Dropped    int64            `json:"dropped"`    // open model: iterations with no free VU
	LatencyMs  Latency          `json:"latency_ms"` // open: from the intended start; closed: from the send
	Status     map[string]int64 `json:"status"`     // by status code; "0" is a failed request
	Errors     int64            `json:"errors"`     // failed, or a status not in the op's expect
	ErrorRate  float64          `json:"error_rate"`
	Cache      *Cache           `json:"cache"` // GETs, by Cache-Status; nil in a summary without it
	Thresholds []Threshold      `json:"thresholds"`
	Passed     bool             `json:"passed"`
	Go         string           `json:"go"`
	CPU        string           `json:"cpu"`
	Cores      int              `json:"cores"`
}

// Latency holds percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// Cache counts GETs by the tier their Cache-Status names. A hit that
// names no tier has no key of its own but counts in HitRatio.
type Cache struct {
	L1       int64   `json:"l1"`
	L2       int64   `json:"l2"`
	Miss     int64   `json:"miss"`
	HitRatio float64 `json:"hit_ratio"` // hits (L1, L2 and no tier named) / (hits + misses); 0 without either
}

// Threshold is one limit of the scenario and whether the run met it:
// Value <= Limit. They are p95_ms, p99_ms, max_error_rate and, in the open
// model only, dropped_rate: dropped / (requests + dropped), held to the
// scenario's max_error_rate (the closed model drops nothing).
type Threshold struct {
	Name  string  `json:"name"`
	Limit float64 `json:"limit"`
	Value float64 `json:"value"`
	OK    bool    `json:"ok"`
}
