package server

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// testCA issues certificates for the TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a leaf certificate and key in PEM: a server certificate
// for 127.0.0.1 when client is false, else a client certificate for cn
// with the given email SANs.
func (ca *testCA) issue(t *testing.T, serial int64, cn string, client bool, emails ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, EmailAddresses: emails}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func writeFiles(t *testing.T, files map[string][]byte) {
	t.Helper()
	for path, b := range files {
		// Rename into place, as an operator's tooling should: a reader
		// never sees half a file.
		if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
}

func tlsClient(ca *testCA, certs ...tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: certs},
		DisableKeepAlives: true,
	}}
}

// A connection open across a reload keeps working with the certificate it
// shook hands with; new connections get the new one; a broken pair is not
// loaded and the previous certificate stays.
func TestTLSReload(t *testing.T) {
	ca := newTestCA(t, "berth test CA")
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.TLS.Cert, cfg.TLS.Key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c1, k1 := ca.issue(t, 101, "first", false)
	writeFiles(t, map[string][]byte{cfg.TLS.Cert: c1, cfg.TLS.Key: k1})
	s, logs, _ := start(t, cfg)

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	dial := func(maxVersion uint16) *tls.Conn {
		t.Helper()
		conn, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}, MaxVersion: maxVersion})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	serial := func(c *tls.Conn) int64 { return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64() }
	// get sends one keep-alive request on conn and reads the status line.
	get := func(conn *tls.Conn) string {
		t.Helper()
		if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the answer on a long-lived connection: %v", err)
		}
		resp.Body.Close()
		return resp.Status
	}

	old := dial(0)
	if got := get(old); got != "200 OK" || serial(old) != 101 {
		t.Fatalf("before reload: %s, serial %d", got, serial(old))
	}
	if _, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("a TLS 1.1 handshake succeeded; TLS 1.2 is the minimum")
	}

	c2, k2 := ca.issue(t, 102, "second", false)
	writeFiles(t, map[string][]byte{cfg.TLS.Cert: c2, cfg.TLS.Key: k2})
	if err := s.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if got := get(old); got != "200 OK" || serial(old) != 101 {
		t.Errorf("the connection open across the reload: %s, serial %d", got, serial(old))
	}
	if n := dial(0); serial(n) != 102 || get(n) != "200 OK" {
		t.Errorf("a new connection got serial %d, want the reloaded 102", serial(n))
	}

	// A key that does not match the certificate: refused, 102 stays.
	_, k3 := ca.issue(t, 103, "third", false)
	writeFiles(t, map[string][]byte{cfg.TLS.Key: k3})
	if err := s.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "private key does not match public key") {
		t.Errorf("reloading a mismatched pair: %v", err)
	}
	if n := dial(0); serial(n) != 102 {
		t.Errorf("after a failed reload a new connection got serial %d, want 102", serial(n))
	}
	if !strings.Contains(logs.String(), "TLS certificate not reloaded; still serving the previous one") {
		t.Error("the failed reload is not logged")
	}
}

// A verified client certificate authenticates as the account its CN (or
// an email SAN) names, and is authorized as that account; a certificate
// from another CA fails the handshake.
func TestClientCertificates(t *testing.T) {
	ca, other := newTestCA(t, "berth test CA"), newTestCA(t, "someone else's CA")
	dir := t.TempDir()
	cfg := authConfig(t)
	cfg.TLS.Cert, cfg.TLS.Key, cfg.TLS.ClientCA = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "clients.pem")
	sc, sk := ca.issue(t, 1, "server", false)
	writeFiles(t, map[string][]byte{cfg.TLS.Cert: sc, cfg.TLS.Key: sk, cfg.TLS.ClientCA: ca.pem})
	s, _, _ := start(t, cfg)
	addUser(t, s, "alice", "alice-pass", false, metadata.Grant{Pattern: "team/*", Role: "reader"})
	addUser(t, s, "bob@example.com", "bob-pass", false, metadata.Grant{Pattern: "*", Role: "admin"})
	addUser(t, s, "carol", "carol-pass", true, metadata.Grant{Pattern: "*", Role: "admin"})

	pair := func(ca *testCA, cn string, emails ...string) tls.Certificate {
		c, k := ca.issue(t, 7, cn, true, emails...)
		p, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	alice, bob := tlsClient(ca, pair(ca, "alice")), tlsClient(ca, pair(ca, "laptop-42", "bob@example.com"))
	mallory, carol, none := tlsClient(ca, pair(ca, "mallory")), tlsClient(ca, pair(ca, "carol")), tlsClient(ca)
	tests := []struct {
		name   string
		c      *http.Client
		method string
		path   string
		status int
	}{
		{"alice: base", alice, "GET", "/v2/", 200},
		{"alice: read granted", alice, "GET", "/v2/team/app/tags/list", 404}, // allowed; the repository does not exist
		{"alice: push not granted", alice, "POST", "/v2/team/app/blobs/uploads/", 403},
		{"alice: other repository", alice, "GET", "/v2/other/app/tags/list", 403},
		{"alice: not an admin", alice, "GET", "/api/v1/repositories", 403},
		{"bob by email SAN: admin", bob, "GET", "/api/v1/repositories", 200},
		{"bob: push", bob, "POST", "/v2/team/app/blobs/uploads/", 202},
		{"a certificate naming no account", mallory, "GET", "/v2/", 401},
		{"a disabled account", carol, "GET", "/v2/", 401},
		{"no certificate: anonymous", none, "GET", "/v2/", 401},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, s.URL()+tt.path, nil)
		resp, err := tt.c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
	}
	// A password still wins over the certificate it comes with.
	req, _ := http.NewRequest("GET", s.URL()+"/api/v1/repositories", nil)
	req.SetBasicAuth("alice", "alice-pass")
	if resp, err := bob.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("Basic alice over bob's certificate: %v %v, want 403 (alice is no admin)", resp.StatusCode, err)
	}

	// Go's client only sends a certificate the server's CA list names;
	// a forged one is sent regardless.
	forged := pair(other, "alice")
	fc := tlsClient(ca)
	fc.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &forged, nil
	}
	if resp, err := fc.Get(s.URL() + "/v2/"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a certificate from another CA: %v %v; want the handshake refused", resp, err)
	}

	recs, err := s.meta.(metadata.AuditLog).AuditRecords(t.Context(), metadata.AuditQuery{Action: "login"})
	if err != nil {
		t.Fatal(err)
	}
	var ok, failed int
	for _, r := range recs {
		if strings.Contains(string(r.Detail), `"method":"certificate"`) {
			if r.Result == metadata.AuditOK {
				ok++
			} else {
				failed++
			}
		}
	}
	if ok != 2 || failed != 2 {
		t.Errorf("certificate logins audited: %d ok (want 2: alice, bob, once each), %d failed (want 2)", ok, failed)
	}
}

// Without TLS, SIGHUP is logged and ignored rather than ending the
// process (its default action): log rotation tools send it.
func TestSIGHUPWithoutTLS(t *testing.T) {
	s, logs, _ := start(t, testConfig(t))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "SIGHUP: nothing to reload"); {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP not logged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp, err := http.Get(s.URL() + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after SIGHUP: %v %v", resp, err)
	}
}
