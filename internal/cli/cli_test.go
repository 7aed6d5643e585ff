package cli

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func noEnv(string) (string, bool) { return "", false }

func envOf(m map[string]string) env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"help", []string{"--help"}},
		{"no-args", nil},
		{"serve-help", []string{"serve", "--help"}},
		{"version", []string{"version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), tt.args, &out, &errb, noEnv); code != ExitOK {
				t.Fatalf("exit %d, stderr %q", code, errb.String())
			}
			// The Go version is the toolchain's, not berth's: keep it out of the file.
			got := strings.ReplaceAll(out.String(), runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH, "GO_VERSION OS/ARCH")
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run go test -update if intended):\n%s", golden, got)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "berth.yaml")
	if err := os.WriteFile(badYAML, []byte("listen: 127.0.0.1:0\nlisten_port: 5000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want []string
	}{
		{"unknown command", []string{"nope"}, nil, ExitUsage, []string{`unknown command "nope"`}},
		{"unknown flag", []string{"serve", "--nope"}, nil, ExitUsage, []string{"unknown flag: --nope", "berth serve --help"}},
		{"stray argument", []string{"serve", "extra"}, nil, ExitUsage, []string{"unknown command"}},
		{"invalid flag value", []string{"serve", "--limits-max-manifest-size", "0", "--data-dir", dir},
			nil, ExitError, []string{"berth: config: limits.max_manifest_size: must be > 0"}},
		{"missing certificate", []string{"serve", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key", "--data-dir", dir},
			nil, ExitError, []string{"berth: config: tls.cert: file not found", "berth: config: tls.key: file not found"}},
		{"invalid env", []string{"serve"}, map[string]string{"BERTH_LOG_LEVEL": "loud"},
			ExitError, []string{"berth: config: log.level: unknown level"}},
		{"unparsable env", []string{"serve"}, map[string]string{"BERTH_SERVER_IDLE_TIMEOUT": "forever"},
			ExitError, []string{"berth: config: server.idle_timeout (BERTH_SERVER_IDLE_TIMEOUT): invalid duration"}},
		{"unknown file key", []string{"serve", "--config", badYAML}, nil, ExitError, []string{"field listen_port not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errb, envOf(tt.env))
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}

// lineWriter hands over the first line written, safely across goroutines.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	first chan string
	once  sync.Once
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if line, err := bufio.NewReader(bytes.NewReader(w.buf.Bytes())).ReadString('\n'); err == nil {
		w.once.Do(func() { w.first <- line })
	}
	return len(p), nil
}

func TestServe(t *testing.T) {
	dataDir := t.TempDir()
	out := &lineWriter{first: make(chan string, 1)}
	logs := &lineWriter{first: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir},
			out, logs, envOf(map[string]string{"BERTH_LOG_FORMAT": "json", "BERTH_LISTEN": "127.0.0.1:1"}))
	}()
	var line string
	select {
	case line = <-out.first:
	case code := <-done:
		t.Fatalf("serve exited %d before listening: %s", code, logs.buf.String())
	case <-time.After(10 * time.Second):
		t.Fatal("serve printed nothing within 10s")
	}
	if !strings.HasPrefix(line, "Berth registry listening on http://127.0.0.1:") ||
		!strings.Contains(line, filepath.Join(dataDir, "blobs")) || !strings.Contains(line, filepath.Join(dataDir, "berth.db")) {
		t.Fatalf("announcement = %q", line)
	}
	url := strings.Fields(strings.TrimPrefix(line, "Berth registry listening on "))[0]
	resp, err := http.Get(url + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/ = %d", resp.StatusCode)
	}

	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("exit %d after cancel: %s", code, logs.buf.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10s of cancel")
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	// The flag beat BERTH_LISTEN, and the env's log format applied.
	if !strings.Contains(logs.buf.String(), `"msg":"request"`) || !strings.Contains(logs.buf.String(), `"route":"base"`) {
		t.Errorf("no JSON request log:\n%s", logs.buf.String())
	}
}
