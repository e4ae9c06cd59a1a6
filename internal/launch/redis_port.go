package launch

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
)

// StartRedisOn is StartRedis on a port chosen by the caller, for a server
// whose address users type (make stack). It fails when something already
// listens on 127.0.0.1:port: that server would answer the start-up PING in
// place of the new one.
func StartRedisOn(dir string, port int, args ...string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RedisInstallHint, ErrNotInstalled)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot start redis-server on %s: the port is taken", addr)
	}
	_ = l.Close()
	r := &Redis{Addr: addr, bin: bin, dir: dir, args: args}
	if err := r.start(); err != nil {
		return nil, err
	}
	return r, nil
}
