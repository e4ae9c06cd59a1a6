package loadtest

import (
	"math"
	"math/rand/v2"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEveryScenarioParses(t *testing.T) {
	t.Parallel()
	f, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mixed", "read-heavy", "read-only", "register-burst", "stampede"}
	if got := f.Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("scenarios %v; want %v", got, want)
	}
	for _, name := range f.Names() {
		sc, err := f.Scenario(name)
		if err != nil {
			t.Fatal(err)
		}
		if sc.Name != name {
			t.Errorf("Scenario(%q).Name = %q", name, sc.Name)
		}
		if err := sc.Validate(f.Users); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := NewSampler(sc.Keys); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := f.Scenario("nope"); err == nil || !strings.Contains(err.Error(), "read-heavy") {
		t.Errorf("Scenario(nope): got %v; want an error naming the scenarios", err)
	}
}

// The copy that Scenario returns is the caller's to change.
func TestScenarioIsACopy(t *testing.T) {
	t.Parallel()
	f, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := f.Scenario("mixed")
	sc.Open.Rate = 1
	sc.Ops[0].Weight = 1e6
	again, _ := f.Scenario("mixed")
	if again.Open.Rate == 1 || again.Ops[0].Weight == 1e6 {
		t.Errorf("changing a returned scenario changed the file's")
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	const users = `"users":{"prefix":"u","digits":6,"email_domain":"example.com","new_prefix":"n"}`
	scenario := func(body string) string {
		base := map[string]string{
			"seed":       `"seed":10`,
			"keys":       `"keys":{"dist":"uniform","n":10}`,
			"ops":        `"ops":[{"op":"get","weight":1,"expect":[200]}]`,
			"open":       `"open":{"rate":10,"duration":"1s","pre_allocated_vus":1,"max_vus":2}`,
			"closed":     `"closed":{"vus":1,"duration":"1s"}`,
			"thresholds": `"thresholds":{"p95_ms":1,"p99_ms":2,"max_error_rate":0}`,
		}
		for _, kv := range strings.Split(body, "|") {
			if kv == "" {
				continue
			}
			k, v, _ := strings.Cut(kv, "=")
			base[k] = v
		}
		var parts []string
		for _, k := range []string{"seed", "keys", "ops", "open", "closed", "thresholds"} {
			if base[k] != "" {
				parts = append(parts, base[k])
			}
		}
		return `{` + users + `,"scenarios":{"x":{` + strings.Join(parts, ",") + `}}}`
	}
	if _, err := Parse([]byte(scenario(""))); err != nil {
		t.Fatalf("the base scenario: %v", err)
	}
	cases := []struct{ name, change, want string }{
		{"unknown op", `ops=` + `"ops":[{"op":"upsert","weight":1,"expect":[200]}]`, `unknown op "upsert"`},
		{"zero weight", `ops=` + `"ops":[{"op":"get","weight":0,"expect":[200]}]`, "weight 0"},
		{"negative weight", `ops=` + `"ops":[{"op":"get","weight":-1,"expect":[200]}]`, "weight -1"},
		{"no expect", `ops=` + `"ops":[{"op":"get","weight":1,"expect":[]}]`, "expect"},
		{"bad status", `ops=` + `"ops":[{"op":"get","weight":1,"expect":[42]}]`, "status 42"},
		{"no ops", `ops=` + `"ops":[]`, "no ops"},
		{"register without target", `ops=` + `"ops":[{"op":"register","weight":1,"expect":[201]}]`, "target"},
		{"target on get", `ops=` + `"ops":[{"op":"get","target":"new","weight":1,"expect":[200]}]`, "only register"},
		{"zipf s 0", `keys=` + `"keys":{"dist":"zipf","n":10,"s":0}`, "s 0"},
		{"zipf s negative", `keys=` + `"keys":{"dist":"zipf","n":10,"s":-1}`, "s -1"},
		{"unknown dist", `keys=` + `"keys":{"dist":"pareto","n":10}`, `unknown dist "pareto"`},
		{"n 0", `keys=` + `"keys":{"dist":"uniform","n":0}`, "n 0"},
		{"keys beyond seed", `seed="seed":5`, "seed registers only 5"},
		{"rate 0", `open=` + `"open":{"rate":0,"duration":"1s","pre_allocated_vus":1,"max_vus":2}`, "rate 0"},
		{"max below pre", `open=` + `"open":{"rate":1,"duration":"1s","pre_allocated_vus":3,"max_vus":2}`, "max_vus 2"},
		{"bad duration", `closed=` + `"closed":{"vus":1,"duration":"10"}`, "invalid duration"},
		{"zero vus", `closed=` + `"closed":{"vus":0,"duration":"1s"}`, "vus 0"},
		{"no thresholds", `thresholds=`, "thresholds"},
		{"error rate over 1", `thresholds=` + `"thresholds":{"p95_ms":1,"p99_ms":2,"max_error_rate":2}`, "max_error_rate 2"},
		{"unknown field", `seed="seed":10,"sed":1`, `unknown field "sed"`},
	}
	for _, c := range cases {
		_, err := Parse([]byte(scenario(c.change)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v; want an error containing %q", c.name, err, c.want)
		}
	}
	// Keys beyond the seed are fine when the op expects 404.
	ok := scenario(`seed="seed":0|ops=` + `"ops":[{"op":"get","weight":1,"expect":[200,404]}]`)
	if _, err := Parse([]byte(ok)); err != nil {
		t.Errorf("get expecting 404 of unseeded keys: %v", err)
	}
	badUsers := strings.Replace(scenario(""), `"new_prefix":"n"`, `"new_prefix":"`+strings.Repeat("n", 40)+`"`, 1)
	if _, err := Parse([]byte(badUsers)); err == nil || !strings.Contains(err.Error(), "new_prefix") {
		t.Errorf("a new_prefix too long for 64 characters: got %v", err)
	}
	badDomain := strings.Replace(scenario(""), `example.com`, `exa\"mple.com`, 1)
	if _, err := Parse([]byte(badDomain)); err == nil || !strings.Contains(err.Error(), "email_domain") {
		t.Errorf("a domain that needs escaping: got %v", err)
	}
}

// The sampler's frequencies of ranks 0 and 1 match P(k) = (1/(k+1)^s)/H
// over a fixed-seed sample, with H computed here, not by the sampler.
func TestZipfFrequencies(t *testing.T) {
	t.Parallel()
	const n, s, draws = 100_000, 1.1, 400_000
	h := 0.0
	for k := n; k >= 1; k-- { // smallest terms first, for accuracy
		h += math.Pow(float64(k), -s)
	}
	p0, p1 := 1/h, math.Pow(2, -s)/h

	sm, err := NewSampler(Keys{Dist: DistZipf, N: n, S: s})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var c0, c1 int
	for range draws {
		k := sm.Next(r)
		if k < 0 || k >= n {
			t.Fatalf("rank %d outside [0, %d)", k, n)
		}
		switch k {
		case 0:
			c0++
		case 1:
			c1++
		}
	}
	// 5 standard deviations of a binomial frequency.
	for _, c := range []struct {
		rank  int
		count int
		p     float64
	}{{0, c0, p0}, {1, c1, p1}} {
		got := float64(c.count) / draws
		tol := 5 * math.Sqrt(c.p*(1-c.p)/draws)
		if math.Abs(got-c.p) > tol {
			t.Errorf("rank %d: frequency %.5f; want %.5f ± %.5f", c.rank, got, c.p, tol)
		}
	}
}

func TestUniformAndOne(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	u, _ := NewSampler(Keys{Dist: DistUniform, N: 10})
	seen := map[int]int{}
	for range 10_000 {
		seen[u.Next(r)]++
	}
	for k := range 10 {
		if seen[k] < 800 || seen[k] > 1200 {
			t.Errorf("uniform rank %d drawn %d times of 10000; want about 1000", k, seen[k])
		}
	}
	if len(seen) != 10 {
		t.Errorf("uniform drew %d distinct ranks; want 10", len(seen))
	}
	one, _ := NewSampler(Keys{Dist: DistOne, N: 1})
	for range 100 {
		if k := one.Next(r); k != 0 {
			t.Fatalf("one drew %d; want 0", k)
		}
	}
}

// Every name the scenarios make is valid per SPEC, and every email is a
// bare address net/mail accepts.
func TestNamesAreValid(t *testing.T) {
	t.Parallel()
	f, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	u := f.Users
	if got := u.Name(42); got != "u000042" {
		t.Errorf("Name(42) = %q; want u000042", got)
	}
	if got := u.Email("u000042"); got != "u000042@example.com" {
		t.Errorf("Email = %q", got)
	}
	tag := NewTag(time.Now(), rand.New(rand.NewPCG(5, 6)))
	if len(tag) != runTagLen || strings.Trim(tag, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		t.Errorf("NewTag = %q; want %d of [a-z0-9]", tag, runTagLen)
	}
	names := []string{u.NewName(tag, 0), u.NewName(tag, math.MaxUint64)}
	for _, name := range f.Names() {
		sc, _ := f.Scenario(name)
		for _, i := range []int{0, 1, sc.Seed - 1, sc.Keys.N - 1} {
			if i >= 0 {
				names = append(names, u.Name(i))
			}
		}
	}
	for _, name := range names {
		if !ValidName(name) {
			t.Errorf("%q is not a valid username", name)
		}
		for _, e := range []string{u.Email(name), u.UpdatedEmail(name, math.MaxUint64)} {
			if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
				t.Errorf("%q is not a bare address: %v", e, err)
			}
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a b", strings.Repeat("a", 65), "ü"} {
		if ValidName(bad) {
			t.Errorf("ValidName(%q) = true", bad)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"} {
		if err := CheckLoopback(h); err != nil {
			t.Errorf("CheckLoopback(%q): %v", h, err)
		}
	}
	for _, h := range []string{"10.0.0.1", "0.0.0.0", "", "::", "example.com", "128.0.0.1", "192.168.1.1", "localhost.example.com"} {
		if err := CheckLoopback(h); err == nil {
			t.Errorf("CheckLoopback(%q) = nil; want an error", h)
		}
	}
}

// Both runners know every scenario: each one of scenarios.json has its k6
// script, which loads it by name, and no script names another.
func TestEveryScenarioHasAK6Script(t *testing.T) {
	t.Parallel()
	f, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	scripts, err := filepath.Glob("k6/*.js")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, p := range scripts {
		have[strings.TrimSuffix(filepath.Base(p), ".js")] = true
	}
	for _, name := range f.Names() {
		src, err := os.ReadFile(filepath.Join("k6", name+".js"))
		if err != nil {
			t.Errorf("scenario %s has no k6 script: %v", name, err)
			continue
		}
		if want := "loadScenario(open('../scenarios.json'), '" + name + "')"; !strings.Contains(string(src), want) {
			t.Errorf("k6/%s.js does not contain %s", name, want)
		}
		delete(have, name)
	}
	for name := range have {
		t.Errorf("k6/%s.js runs no scenario of scenarios.json", name)
	}
}
