package launch

import (
	"strconv"
	"strings"
	"testing"
)

func TestStartRedisOn(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	r, err := StartRedisOn(t.TempDir(), port)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if want := "127.0.0.1:" + strconv.Itoa(port); r.Addr != want {
		t.Errorf("Addr = %q; want %q", r.Addr, want)
	}
	if got, err := r.Do("PING"); err != nil || got != "PONG" {
		t.Errorf("PING = %q, %v; want PONG", got, err)
	}
	// A second server on the same port must fail, not take the first
	// one's PONG for its own.
	if r2, err := StartRedisOn(t.TempDir(), port); err == nil {
		r2.Stop()
		t.Fatal("second StartRedisOn on a taken port: no error")
	} else if !strings.Contains(err.Error(), "taken") {
		t.Errorf("error %q; want it to say the port is taken", err)
	}
}
