// Package harness starts registries under test (berth or the peer,
// CNCF distribution's docker-registry) on 127.0.0.1 and finds the external
// clients the end-to-end and conformance tests drive.
//
// The target is chosen by the environment variable BERTH_TARGET:
// "berth" (default) or "docker-registry". Selecting the peer lets the
// harness itself be validated against a known registry.
package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Target names accepted in BERTH_TARGET.
const (
	TargetBerth = "berth"
	TargetPeer  = "docker-registry"
)

// Target returns the registry kind selected by BERTH_TARGET.
func Target() string {
	if v := os.Getenv("BERTH_TARGET"); v != "" {
		return v
	}
	return TargetBerth
}

// InCI reports whether the run is CI, where a missing tool is a failure:
// CI must never report a skipped check as passing.
func InCI() bool { return os.Getenv("CI") == "true" }

// ModuleRoot returns the repository root (the directory holding go.mod).
func ModuleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("harness: cannot locate source file")
	}
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("harness: go.mod not found above " + file)
		}
		dir = parent
	}
}

// RaceBuild reports whether BERTH_RACE=1 asks for a race-instrumented
// server, so the real-client suites double as race tests of the server.
func RaceBuild() bool { return os.Getenv("BERTH_RACE") == "1" }

// BuildBerth compiles ./cmd/berth into dir and returns the binary's path.
// Tests call it once from TestMain so each test only pays for a process start.
func BuildBerth(dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "berth")
	args := []string{"build", "-o", out}
	if RaceBuild() {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/berth")...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building berth: %w\n%s", err, b)
	}
	return out, nil
}

// Server is one running registry process.
type Server struct {
	Kind string
	Addr string // host:port on 127.0.0.1
	Cmd  *exec.Cmd
	Log  string // path of the combined stdout/stderr log

	waitOnce sync.Once
	waitErr  error
}

// URL returns the base URL, e.g. http://127.0.0.1:5000.
func (s *Server) URL() string { return "http://" + s.Addr }

// PID returns the server's process id.
func (s *Server) PID() int { return s.Cmd.Process.Pid }

// Stop ends the server: SIGTERM, then SIGKILL after a grace period.
func (s *Server) Stop() error {
	if s.Cmd.Process == nil {
		return nil
	}
	_ = s.Cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.Cmd.Process.Kill()
		<-done
	}
	return nil
}

func (s *Server) wait() error {
	s.waitOnce.Do(func() { s.waitErr = s.Cmd.Wait() })
	return s.waitErr
}

// FreePort asks the kernel for an unused port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Options for StartServer.
type Options struct {
	Kind      string // TargetBerth or TargetPeer
	BerthBin  string // required for TargetBerth
	DataDir   string // created if missing
	LogDir    string // where the process log goes; DataDir's parent if empty
	ExtraArgs []string
}

// StartServer starts a registry on a free port and waits until it is ready.
// The caller must Stop it.
func StartServer(ctx context.Context, o Options) (*Server, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, err
	}
	logDir := o.LogDir
	if logDir == "" {
		logDir = filepath.Dir(o.DataDir)
	}
	var cmd *exec.Cmd
	readyPath := "/readyz"
	switch o.Kind {
	case TargetBerth:
		if o.BerthBin == "" {
			return nil, errors.New("harness: BerthBin is required for berth")
		}
		args := append([]string{"serve", "--listen", addr, "--data-dir", o.DataDir}, o.ExtraArgs...)
		cmd = exec.Command(o.BerthBin, args...)
		// With a -race build, the first race kills the server, so the
		// client-side test fails at once; Start also scans the log.
		cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1")
	case TargetPeer:
		bin, err := exec.LookPath("docker-registry")
		if err != nil {
			return nil, fmt.Errorf("harness: docker-registry not installed: %w", err)
		}
		cfg := filepath.Join(logDir, fmt.Sprintf("registry-%d.yml", port))
		// Deletion is enabled so the conformance content-management tests
		// and crane delete can run; the log level keeps test output small.
		yml := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, o.DataDir, addr)
		if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
			return nil, err
		}
		cmd = exec.Command(bin, "serve", cfg)
		readyPath = "/v2/"
	default:
		return nil, fmt.Errorf("harness: unknown target %q (want %q or %q)", o.Kind, TargetBerth, TargetPeer)
	}
	logPath := filepath.Join(logDir, fmt.Sprintf("%s-%d.log", o.Kind, port))
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	// Own process group so a stray child never outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting %s: %w", o.Kind, err)
	}
	lf.Close() // the child holds its own descriptor
	s := &Server{Kind: o.Kind, Addr: addr, Cmd: cmd, Log: logPath}
	if err := s.waitReady(ctx, readyPath); err != nil {
		s.Stop()
		b, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%s did not become ready: %w\nlog:\n%s", o.Kind, err, tail(string(b), 4000))
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, path string) error {
	exited := make(chan error, 1)
	go func() { exited <- s.wait() }()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+path, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("process exited: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error %v)", path, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Start starts the selected target for one test and stops it at cleanup.
// berthBin is the binary built by TestMain; it is ignored for the peer.
func Start(t testing.TB, berthBin string) *Server {
	t.Helper()
	kind := Target()
	dir := t.TempDir()
	s, err := StartServer(context.Background(), Options{Kind: kind, BerthBin: berthBin, DataDir: filepath.Join(dir, "data"), LogDir: dir})
	if err != nil {
		if kind == TargetPeer && errors.Is(err, exec.ErrNotFound) {
			Missing(t, "docker-registry", err.Error())
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		b, _ := os.ReadFile(s.Log)
		if i := strings.Index(string(b), "WARNING: DATA RACE"); i >= 0 {
			t.Errorf("%s reported a data race:\n%s", kind, head(string(b[i:]), 6000))
		} else if t.Failed() {
			t.Logf("%s log (tail):\n%s", kind, tail(string(b), 3000))
		}
	})
	return s
}

// Missing reports a missing prerequisite: a skip locally, a failure in CI.
func Missing(t testing.TB, what, why string) {
	t.Helper()
	msg := fmt.Sprintf("%s not available (%s); run scripts/install-tools.sh", what, why)
	if InCI() {
		t.Fatal("CI=true: " + msg)
	}
	t.Skip(msg)
}

// Tool returns the path of an external client, looked up in the project's
// .tools/bin first and then PATH. A missing tool skips the test, or fails it
// under CI=true.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := FindTool(name); err == nil {
		return p
	}
	Missing(t, name, "not in .tools/bin or PATH")
	return ""
}

// FindTool looks up an external client without a testing.TB.
func FindTool(name string) (string, error) {
	if root, err := ModuleRoot(); err == nil {
		p := filepath.Join(root, ".tools", "bin", name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

// Run executes a tool and returns its stdout; a non-zero exit fails the test
// with both output streams, so a failure names the exact command.
func Run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out
}

// RunIn is Run with the working directory set to dir.
func RunIn(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runIn(dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out
}

// RunErr executes a tool with a 5-minute cap and returns stdout, or an error
// that includes stderr.
func RunErr(env []string, name string, args ...string) (string, error) {
	return runIn("", env, name, args...)
}

func runIn(dir string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w\nstdout: %s\nstderr: %s", err, tail(stdout.String(), 2000), tail(stderr.String(), 2000))
	}
	return stdout.String(), nil
}

func head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
