package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/test/harness"
)

// TestTLSReloadOnSIGHUP sends SIGHUP to a real berth serve: a connection
// open across the reload keeps working, the next handshake presents the
// new certificate, and the process lives on.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	if harness.Target() != harness.TargetBerth {
		t.Skip("berth only: certificate reload on SIGHUP")
	}
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	issue := func(serial int64) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalPKCS8PrivateKey(key)
		for path, b := range map[string][]byte{
			certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			keyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		} {
			if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path+".tmp", path); err != nil {
				t.Fatal(err)
			}
		}
	}
	issue(1001)

	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logFile, err := os.Create(filepath.Join(dir, "berth.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(berthBin, "serve", "--listen", addr, "--data-dir", filepath.Join(dir, "data"),
		"--tls-cert", certFile, "--tls-key", keyFile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("berth log:\n%s", b)
		}
	})

	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	dial := func() (*tls.Conn, error) {
		return tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	}
	serial := func(c *tls.Conn) int64 { return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64() }
	var old *tls.Conn
	for deadline := time.Now().Add(30 * time.Second); ; {
		if old, err = dial(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("berth did not accept TLS connections: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer old.Close()
	br := bufio.NewReader(old)
	get := func() string {
		t.Helper()
		if _, err := old.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("the long-lived connection: %v", err)
		}
		resp.Body.Close()
		return resp.Status
	}
	if got := get(); got != "200 OK" || serial(old) != 1001 {
		t.Fatalf("before: %s serial %d", got, serial(old))
	}

	issue(1002)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var got int64
	for deadline := time.Now().Add(10 * time.Second); got != 1002 && time.Now().Before(deadline); {
		c, err := dial()
		if err != nil {
			t.Fatalf("a new connection after SIGHUP: %v", err)
		}
		got = serial(c)
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	if got != 1002 {
		t.Errorf("new connections still get serial %d after SIGHUP, want 1002", got)
	}
	if st := get(); st != "200 OK" || serial(old) != 1001 {
		t.Errorf("the connection open across SIGHUP: %s serial %d", st, serial(old))
	}
	select {
	case err := <-exited:
		t.Fatalf("berth exited on SIGHUP: %v", err)
	default:
	}
}
