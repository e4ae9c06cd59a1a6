package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.listen != ":5000" || c.redisURL != "redis://127.0.0.1:6379" || c.store != "bolt:./data/tiercache.db" || c.l1Bytes != 64<<20 {
		t.Fatalf("got %+v; want the documented defaults", c)
	}
}

func TestConfigEnvAndCommandLine(t *testing.T) {
	c, err := parseConfig([]string{"-listen", ":7000"}, env(map[string]string{
		"TIERCACHE_LISTEN":       ":6000",
		"TIERCACHE_REDIS_URL":    "off",
		"TIERCACHE_STORE":        "memory",
		"TIERCACHE_L1_BYTES":     "16MiB",
		"TIERCACHE_NEGATIVE_TTL": "5s",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.listen != ":7000" {
		t.Errorf("listen = %q; want the command line's :7000", c.listen)
	}
	if c.redisURL != "off" || c.store != "memory" || c.l1Bytes != 16<<20 || c.negativeTTL != 5*time.Second {
		t.Errorf("got %+v; want the environment's values", c)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{env: map[string]string{"TIERCACHE_L1_BYTES": "lots"}, want: "TIERCACHE_L1_BYTES"},
		{env: map[string]string{"TIERCACHE_TTL": "1 hour"}, want: "TIERCACHE_TTL"},
		{args: []string{"-nope"}, want: "not defined"},
		{args: []string{"extra"}, want: "unexpected argument"},
	} {
		_, err := parseConfig(tc.args, env(tc.env), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%q, %v) = %v; want an error mentioning %q", tc.args, tc.env, err, tc.want)
		}
	}
}

// -h lists every setting with its environment variable and default.
func TestHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	_, err := parseConfig([]string{"-h"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v; want flag.ErrHelp", err)
	}
	var c config
	newFlagSet(&c).VisitAll(func(f *flag.Flag) {
		for _, want := range []string{"-" + f.Name + " ", envName(f.Name), "(default " + `"` + f.DefValue + `")`} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("-h output lacks %q", want)
			}
		}
	})
	for _, want := range []string{"TIERCACHE_LISTEN", "TIERCACHE_REDIS_URL", "TIERCACHE_STORE", "TIERCACHE_L1_BYTES"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h output lacks the contract variable %s", want)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "64MiB": 64 << 20, "64mib": 64 << 20, "1GB": 1e9, "512KiB": 512 << 10, "3 MiB": 3 << 20} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1XB", "MiB", "99999999999GiB"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) = nil error; want an error", in)
		}
	}
	if s := (*byteSize)(ptr(int64(64 << 20))).String(); s != "64MiB" {
		t.Errorf("String() = %q; want 64MiB", s)
	}
}

func ptr[T any](v T) *T { return &v }

func TestDefaultHealthURL(t *testing.T) {
	for in, want := range map[string]string{
		":5000":          "http://127.0.0.1:5000/healthz",
		"0.0.0.0:8080":   "http://127.0.0.1:8080/healthz",
		"127.0.0.2:9000": "http://127.0.0.2:9000/healthz",
		"[::1]:5000":     "http://[::1]:5000/healthz",
	} {
		if got := defaultHealthURL(in); got != want {
			t.Errorf("defaultHealthURL(%q) = %q; want %q", in, got, want)
		}
	}
}

// readmeSection returns the README's section under the level-two heading,
// up to the next one.
func readmeSection(t *testing.T, heading string) []byte {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := bytes.Cut(readme, []byte("\n## "+heading+"\n"))
	if !ok {
		t.Fatalf("README.md has no section %q", heading)
	}
	if i := bytes.Index(section, []byte("\n## ")); i >= 0 {
		section = section[:i]
	}
	return section
}

// checkREADMETable checks that section's table of settings has one row per
// flag of c's flag set, with its variable and default as -h prints them,
// and no row for another flag.
func checkREADMETable(t *testing.T, heading string, c *config) {
	t.Helper()
	section := readmeSection(t, heading)
	flags := map[string]bool{}
	newFlagSet(c).VisitAll(func(f *flag.Flag) {
		flags[f.Name] = true
		def := f.DefValue
		if def == "" {
			def = `""` // as -h prints it: an empty code span does not render
		}
		row := fmt.Sprintf("| `-%s` | `%s` | `%s` |", f.Name, envName(f.Name), def)
		if !bytes.Contains(section, []byte(row)) {
			t.Errorf("README.md section %q has no row starting %q", heading, row)
		}
	})
	for _, m := range regexp.MustCompile("(?m)^\\| `-([a-z0-9-]+)` \\|").FindAllSubmatch(section, -1) {
		if !flags[string(m[1])] {
			t.Errorf("README.md section %q has a row for -%s, which is no flag there", heading, m[1])
		}
	}
}

// The README's configuration table names every flag with its variable and
// default, as -h prints it, so the docs cannot drift from the code.
func TestREADMEListsEverySetting(t *testing.T) {
	checkREADMETable(t, "Configuration", &config{})
}

// The same for the proxy's table and tiercache proxy -h.
func TestREADMEListsEveryProxySetting(t *testing.T) {
	checkREADMETable(t, "Proxy mode", &config{proxy: true})
}

// tiercache proxy -h lists every setting of the proxy with its variable
// and default.
func TestProxyHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	_, err := parseConfig([]string{"proxy", "-h"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v; want flag.ErrHelp", err)
	}
	newFlagSet(&config{proxy: true}).VisitAll(func(f *flag.Flag) {
		for _, want := range []string{"-" + f.Name + " ", envName(f.Name), "(default " + `"` + f.DefValue + `")`} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("proxy -h output lacks %q", want)
			}
		}
	})
}

// The proxy's settings come from their variables, the command line
// winning; they are no settings of the user service.
func TestProxyConfig(t *testing.T) {
	c, err := parseConfig([]string{"proxy", "-default-ttl", "1m"}, env(map[string]string{
		"TIERCACHE_ORIGIN":           "http://origin:8080",
		"TIERCACHE_DEFAULT_TTL":      "5s",
		"TIERCACHE_STALE_IF_ERROR":   "30s",
		"TIERCACHE_MAX_OBJECT_BYTES": "2MiB",
		"TIERCACHE_PURGE_TOKEN":      "t",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.proxy || c.origin != "http://origin:8080" || c.defaultTTL != time.Minute || c.staleIfError != 30*time.Second ||
		c.maxObjectBytes != 2<<20 || c.purgeToken != "t" || c.redisPrefix != "tiercache:proxy:" || c.ttl != 24*time.Hour {
		t.Errorf("got %+v; want the environment's values, the command line's -default-ttl and the proxy's defaults", c)
	}
	c, err = parseConfig(nil, env(map[string]string{"TIERCACHE_ORIGIN": "http://origin:8080", "TIERCACHE_STORE": "memory"}), &bytes.Buffer{})
	if err != nil || c.origin != "" || c.proxy {
		t.Errorf("the user service with TIERCACHE_ORIGIN: %+v, %v; want it ignored", c, err)
	}
}

func TestOpenStoreErrors(t *testing.T) {
	for _, spec := range []string{"", "bolt", "mysql://u:secret@db/x", "postgres://u:secret@127.0.0.1:1/x?connect_timeout=1",
		"postgres://u@127.0.0.1:1/x?connect_timeout=1&password=secret", "postgres://u:secret@[::1/x?sslpassword=secret"} {
		s, err := openStore(spec, time.Second)
		if err == nil {
			s.Close()
			t.Errorf("openStore(%q) = nil error; want an error", spec)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("openStore(%q) = %v; want the password left out", spec, err)
		}
	}
}

func TestL1Backend(t *testing.T) {
	c, err := parseConfig(nil, func(k string) string {
		if k == "TIERCACHE_L1_BACKEND" {
			return "otter"
		}
		return ""
	}, io.Discard)
	if err != nil || c.l1Backend.value != "otter" {
		t.Fatalf("TIERCACHE_L1_BACKEND=otter: got %q, %v; want otter", c.l1Backend.value, err)
	}
	if _, err := parseConfig([]string{"-l1-backend", "lru"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Fatal("-l1-backend lru: got nil error; want one naming the choices")
	}
}

// The Redis TLS settings come from their variables, the command line
// winning, as every setting does.
func TestRedisTLSConfig(t *testing.T) {
	c, err := parseConfig([]string{"-redis-tls-key", "flag-key.pem"}, env(map[string]string{
		"TIERCACHE_REDIS_TLS_CA":       "ca.pem",
		"TIERCACHE_REDIS_TLS_CERT":     "cert.pem",
		"TIERCACHE_REDIS_TLS_KEY":      "env-key.pem",
		"TIERCACHE_REDIS_TLS_INSECURE": "true",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (redisTLS{ca: "ca.pem", cert: "cert.pem", key: "flag-key.pem", insecure: true}); c.redisTLS != want {
		t.Errorf("got %+v; want %+v", c.redisTLS, want)
	}
	if _, err := parseConfig(nil, env(map[string]string{"TIERCACHE_REDIS_TLS_INSECURE": "yes please"}), &bytes.Buffer{}); err == nil ||
		!strings.Contains(err.Error(), "TIERCACHE_REDIS_TLS_INSECURE") {
		t.Errorf("TIERCACHE_REDIS_TLS_INSECURE=\"yes please\": got %v; want an error naming it", err)
	}
}
