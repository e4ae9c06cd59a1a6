package redis

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
)

// A certificate that expired is a start-up error like one of an unknown CA
// (the TLS tests make only fresh certificates).
func TestTLSFailureExpired(t *testing.T) {
	err := &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time is after the end"}}
	got := tlsFailure(Config{URL: "rediss://u:s3cret@host:6380"}, err)
	want := "redis: cannot verify the TLS certificate of rediss://u:xxxxx@host:6380: x509: certificate has expired or is not yet valid: current time is after the end: the server needs a valid certificate"
	if got != want {
		t.Errorf("got %q; want %q", got, want)
	}
	if strings.Contains(got, "s3cret") {
		t.Errorf("message shows the password: %q", got)
	}
}
