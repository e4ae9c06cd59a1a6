package main

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"testing"
	"time"
)

// configHelperEnv names the file TestConfigHelper writes to; unset, the
// test does nothing.
const configHelperEnv = "TIERCACHE_TEST_CONFIG_HELPER"

// helperConfig is what TestConfigHelper writes: the TIERCACHE_* variables
// of the mode, and the settings parseConfig made of the arguments and the
// environment (Error if it refused them). loadtest/compose_test.go decodes
// it with a copy of this type.
type helperConfig struct {
	Accepted        []string
	Error           string
	Proxy           bool
	Listen          string
	Redis           string
	RedisPrefix     string
	Store           string
	Origin          string
	LogLevel        string
	ShutdownTimeout time.Duration
}

// TestConfigHelper is a helper process, not a test. The compose test of
// the loadtest module checks docker-compose.yml with compose-go, a
// dependency this module does not take, and cannot import package main: it
// builds this package's test binary and runs it as
//
//	tiercache.test -test.run '^TestConfigHelper$' -- ARGS...
//
// with TIERCACHE_TEST_CONFIG_HELPER=FILE and a service's environment, so
// that every service is parsed by parseConfig, as at start-up.
func TestConfigHelper(t *testing.T) {
	out := os.Getenv(configHelperEnv)
	if out == "" {
		return
	}
	args := flag.Args()
	c, err := parseConfig(args, os.Getenv, io.Discard)
	h := helperConfig{Proxy: c.proxy, Listen: c.listen, Redis: c.redisURL, RedisPrefix: c.redisPrefix, Store: c.store,
		Origin: c.origin, LogLevel: c.logLevel, ShutdownTimeout: c.shutdownTimeout}
	if err != nil {
		h.Error = err.Error()
	}
	mode := config{proxy: len(args) > 0 && args[0] == "proxy"}
	newFlagSet(&mode).VisitAll(func(f *flag.Flag) { h.Accepted = append(h.Accepted, envName(f.Name)) })
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
