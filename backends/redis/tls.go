package redis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/redis/rueidis"
)

// TLS is how the tier checks a rediss:// server and proves itself to it.
// The zero value verifies the server against the system's roots (Go's,
// which SSL_CERT_FILE can change) and sends no client certificate. rueidis
// uses one tls.Config for every node, cluster included: each node's
// certificate must be valid for the host that the URL names first, as a
// certificate shared by the cluster's nodes is.
type TLS struct {
	// CAFile is a PEM file of the CA certificates that the server's
	// certificate must chain to, in place of the system's roots: for a
	// Redis with a private CA.
	CAFile string
	// CertFile and KeyFile are PEM files of a client certificate and its
	// private key, for a Redis that requires one (tls-auth-clients yes).
	// Both or neither.
	CertFile, KeyFile string
	// AllowSkipVerify lets the URL's skip_verify=true turn the
	// verification of the server's certificate off. Without it such a URL
	// is refused: with verification off, anyone on the path can read and
	// change what every instance caches, and a URL copied from a test
	// setup should not do that quietly. With it, New logs a warning.
	AllowSkipVerify bool
}

func (c TLS) set() bool { return c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" }

// useTLS applies cfg.TLS to opt, the options of cfg.URL. TLS settings on a
// URL without TLS are refused rather than taken to mean rediss://: the
// scheme alone says whether the connection is encrypted, as in every
// other Redis client, and a CA given for a redis:// URL is more likely a
// forgotten "s" than a wish for TLS.
func useTLS(opt *rueidis.ClientOption, cfg Config) error {
	c := cfg.TLS
	if opt.TLSConfig == nil {
		if c.set() {
			return fmt.Errorf("redis: TLS files given for %q, a URL without TLS: use rediss://, or drop -redis-tls-ca, -redis-tls-cert and -redis-tls-key",
				redact(cfg.URL))
		}
		return nil
	}
	if opt.TLSConfig.InsecureSkipVerify {
		if !c.AllowSkipVerify {
			return fmt.Errorf("redis: invalid URL %q: skip_verify turns off the verification of the server's certificate; give its CA with -redis-tls-ca instead, or add -redis-tls-insecure if you mean it",
				redact(cfg.URL))
		}
		cfg.Logger.Warn("redis TLS certificate verification is off (skip_verify in the URL, allowed by -redis-tls-insecure): anyone between tiercache and Redis can read and change cached users",
			"redis", redact(cfg.URL))
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return fmt.Errorf("redis: cannot read the TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("redis: TLS CA %s holds no PEM certificate", c.CAFile)
		}
		opt.TLSConfig.RootCAs = pool
	}
	switch {
	case c.CertFile != "" && c.KeyFile == "":
		return fmt.Errorf("redis: TLS client certificate %s has no key: give both -redis-tls-cert and -redis-tls-key", c.CertFile)
	case c.CertFile == "" && c.KeyFile != "":
		return fmt.Errorf("redis: TLS client key %s has no certificate: give both -redis-tls-cert and -redis-tls-key", c.KeyFile)
	case c.CertFile != "":
		certPEM, err := os.ReadFile(c.CertFile)
		if err != nil {
			return fmt.Errorf("redis: cannot read the TLS client certificate: %w", err)
		}
		keyPEM, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return fmt.Errorf("redis: cannot read the TLS client key: %w", err)
		}
		// X509KeyPair's errors describe, never quote, what it read.
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return fmt.Errorf("redis: cannot use TLS client certificate %s with key %s: %w", c.CertFile, c.KeyFile, err)
		}
		opt.TLSConfig.Certificates = []tls.Certificate{cert}
	}
	return nil
}

// tlsRefused returns the start-up error that NewClient's err makes of a
// TLS handshake that failed for a reason a retry cannot fix: the server's
// certificate does not verify, the server refused ours (or our lack of
// one), or the port does not speak TLS. Any other failure, a Redis that
// is down or a proxy with nothing behind it, is not one: the tier starts
// degraded and reconnects.
//
// A server that requires a client certificate checks it after the TLS 1.3
// handshake has completed on the client's side, then sends an alert and
// closes. rueidis has written HELLO by then, and whether it reads the
// alert ("remote error: tls: certificate required") or fails the write
// ("connection reset by peer") is a race; against redis-server 7.0 on
// loopback the reset won 3 times in 4. So a reset or EOF on a TLS
// connection is asked again: one more handshake, then a read without a
// write, which gets the alert if there is one.
func tlsRefused(cfg Config, opt rueidis.ClientOption, err error) error {
	if err == nil || opt.TLSConfig == nil {
		return nil
	}
	if _, ok := rueidis.IsRedisErr(err); ok {
		return nil
	}
	if msg := tlsFailure(cfg, err); msg != "" {
		return errors.New(msg)
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, io.EOF) {
		return nil
	}
	if msg := tlsFailure(cfg, handshake(opt, cfg.ConnWriteTimeout)); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// handshake connects to the first node, completes a TLS handshake, and
// waits up to wait for what the server says unasked: an alert, or
// nothing (a timeout).
func handshake(opt rueidis.ClientOption, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), opt.Dialer.Timeout+wait)
	defer cancel()
	d := tls.Dialer{NetDialer: &opt.Dialer, Config: opt.TLSConfig}
	conn, err := d.DialContext(ctx, "tcp", opt.InitAddress[0])
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	_, err = conn.Read(make([]byte, 1))
	return err
}

// tlsFailure is the message for err if it is a TLS failure that a retry
// cannot fix, else "".
func tlsFailure(cfg Config, err error) string {
	u := redact(cfg.URL)
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		op       *net.OpError
	)
	switch {
	case errors.As(err, &unknown):
		hint := "give the CA that signed it with -redis-tls-ca"
		if cfg.TLS.CAFile != "" {
			hint = "-redis-tls-ca " + cfg.TLS.CAFile + " is not the CA that signed it"
		}
		return fmt.Sprintf("redis: cannot verify the TLS certificate of %s: %v: %s", u, unknown, hint)
	case errors.As(err, &hostname):
		return fmt.Sprintf("redis: cannot verify the TLS certificate of %s: %v: name the server in the URL as its certificate does", u, hostname)
	case errors.As(err, &invalid):
		return fmt.Sprintf("redis: cannot verify the TLS certificate of %s: %v: the server needs a valid certificate", u, invalid)
	case errors.As(err, &verify):
		return fmt.Sprintf("redis: cannot verify the TLS certificate of %s: %v", u, verify.Err)
	case errors.As(err, &record):
		return fmt.Sprintf("redis: %s does not speak TLS (%v): use redis://, or the server's tls-port", u, err)
	case errors.As(err, &op) && op.Op == "remote error":
		// An alert from the server: it refused the handshake.
		msg := fmt.Sprintf("redis: %s refused the TLS handshake (%v)", u, op)
		switch {
		case !strings.Contains(op.Err.Error(), "certificate"):
			return msg
		case cfg.TLS.CertFile == "":
			return msg + ": it requires a client certificate: give one that its CA signed with -redis-tls-cert and -redis-tls-key"
		}
		return msg + ": it does not accept the client certificate " + cfg.TLS.CertFile + ": give one signed by a CA of its tls-ca-cert-file"
	}
	return ""
}
