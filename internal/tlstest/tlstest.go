// Package tlstest makes short-lived certificates and starts redis-server
// with TLS, for the tests of tiercache's Redis TLS settings.
//
// Certificates are ECDSA P-256, valid for an hour from a minute ago, for
// 127.0.0.1 and localhost: a CA, a server certificate and a client
// certificate it signed, written as PEM files into a test's directory.
// Each call makes a new CA, so two calls give two CAs that do not trust
// each other (a "wrong CA"). A missing redis-server fails the test with an
// install hint; it never skips.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/launch"
	"github.com/tiercache/tiercache/internal/redistest"
)

// Files are the PEM files of one CA and the certificates it signed.
type Files struct {
	CA         string // the CA certificate
	ServerCert string // for 127.0.0.1 and localhost
	ServerKey  string
	ClientCert string // for client authentication, CN "tiercache"
	ClientKey  string
}

// NewFiles makes a CA, a server and a client certificate in a new
// directory of tb's.
func NewFiles(tb testing.TB) Files {
	tb.Helper()
	dir := tb.TempDir()
	caKey := newKey(tb)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: "tiercache test CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}
	f := Files{CA: filepath.Join(dir, "ca.pem")}
	writePEM(tb, f.CA, "CERTIFICATE", caDER)
	leaf := func(name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
		key := newKey(tb)
		tmpl := &x509.Certificate{
			SerialNumber: serial(tb),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    now.Add(-time.Minute),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:     []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			tb.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			tb.Fatal(err)
		}
		certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		writePEM(tb, certFile, "CERTIFICATE", der)
		writePEM(tb, keyFile, "PRIVATE KEY", keyDER)
		return certFile, keyFile
	}
	f.ServerCert, f.ServerKey = leaf("server", x509.ExtKeyUsageServerAuth)
	f.ClientCert, f.ClientKey = leaf("tiercache", x509.ExtKeyUsageClientAuth)
	return f
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func serial(tb testing.TB) *big.Int {
	tb.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func writePEM(tb testing.TB, path, typ string, der []byte) {
	tb.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// Server is a redis-server that speaks TLS on TLSAddr with the server
// certificate of Files. Its plain port (Addr, and Do) stays open for the
// test's own setup and inspection; tiercache is given only TLSURL.
type Server struct {
	*redistest.Server
	TLSAddr string // 127.0.0.1:port
	Files   Files
}

// TLSURL is the rediss:// URL of the TLS port.
func (s *Server) TLSURL() string { return "rediss://" + s.TLSAddr }

// StartRedis starts redis-server with TLS on a free loopback port, with a
// new CA and certificates, and stops it when the test ends. With
// clientAuth, the server requires a client certificate signed by the CA
// (tls-auth-clients yes); without, it asks for none. args are more
// redis-server arguments.
func StartRedis(tb testing.TB, clientAuth bool, args ...string) *Server {
	tb.Helper()
	f := NewFiles(tb)
	port, err := launch.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	auth := "no"
	if clientAuth {
		auth = "yes"
	}
	srv := redistest.Start(tb, append([]string{
		"--tls-port", strconv.Itoa(port),
		"--tls-cert-file", f.ServerCert, "--tls-key-file", f.ServerKey, "--tls-ca-cert-file", f.CA,
		"--tls-auth-clients", auth}, args...)...)
	return &Server{Server: srv, TLSAddr: "127.0.0.1:" + strconv.Itoa(port), Files: f}
}
