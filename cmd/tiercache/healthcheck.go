package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheck asks a running tiercache for /healthz and fails unless it
// answers 200: a container healthcheck that needs no curl.
func healthcheck(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tiercache healthcheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // main reports a parse error once
	listen := getenv("TIERCACHE_LISTEN")
	if listen == "" {
		listen = ":5000"
	}
	url := fs.String("url", defaultHealthURL(listen), "health URL to ask (default from TIERCACHE_LISTEN)")
	timeout := fs.Duration("timeout", 2*time.Second, "time to wait for the answer")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: tiercache healthcheck [flags]\n\nExits 0 when the instance answers 200, 1 otherwise.\n\n")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
		}
		return err
	}
	client := &http.Client{Timeout: *timeout}
	resp, err := client.Get(*url)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", *url, resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// defaultHealthURL turns a listen address into a URL on loopback.
func defaultHealthURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://127.0.0.1:5000/healthz"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz"
}
