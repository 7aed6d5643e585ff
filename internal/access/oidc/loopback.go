package oidc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// LoopbackLogin runs the CLI login (RFC 8252): it listens on addr
// ("127.0.0.1:0", a free port, when empty; a fixed port for issuers that
// only accept registered redirect URIs), calls show with the URL the user must open, waits for the
// issuer to redirect the browser back, and returns the verified identity
// and the raw ID token. A callback with a wrong state is answered and
// ignored, so a stray request cannot end the login.
func LoopbackLogin(ctx context.Context, p *Provider, addr string, show func(url string)) (*Identity, string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || (host != "127.0.0.1" && host != "[::1]" && host != "::1" && host != "localhost") {
		return nil, "", fmt.Errorf("oidc: callback address %q: want a loopback host:port", addr)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("oidc: loopback listener: %w", err)
	}
	f, err := NewFlow(fmt.Sprintf("http://%s/callback", ln.Addr()))
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	type result struct {
		id  *Identity
		raw string
		err error
	}
	done := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/callback" || q.Get("state") != f.State {
			http.Error(w, "not this login", http.StatusBadRequest)
			return
		}
		var res result
		if e := q.Get("error"); e != "" {
			res.err = fmt.Errorf("oidc: the identity provider refused: %.100q", e)
		} else {
			res.id, res.raw, res.err = p.Exchange(r.Context(), f, q.Get("state"), q.Get("code"))
		}
		if res.err != nil {
			http.Error(w, "login failed; see the terminal", http.StatusUnauthorized)
		} else {
			_, _ = io.WriteString(w, "Logged in to Berth. You may close this window.\n")
		}
		select {
		case done <- res:
		default:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	// Shutdown, not Close: the result is sent before the handler returns,
	// and Close would cut the browser's response off (it saw EOF).
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	show(p.AuthURL(f))
	select {
	case res := <-done:
		return res.id, res.raw, res.err
	case <-ctx.Done():
		return nil, "", errors.Join(errors.New("oidc: login not completed"), ctx.Err())
	}
}
