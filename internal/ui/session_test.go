package ui

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/access/authz"
)

// TestSessionExpiry: a session ends after the idle time without a
// request, and after the absolute time whatever the activity.
func TestSessionExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		steps []time.Duration // requests at these offsets from the start
		alive bool            // after the last step
	}{
		{"fresh", []time.Duration{time.Minute}, true},
		{"idle within limit", []time.Duration{29 * time.Minute, 58 * time.Minute}, true},
		{"idle past limit", []time.Duration{31 * time.Minute}, false},
		{"active past absolute", []time.Duration{25 * time.Minute, 50 * time.Minute, 75 * time.Minute, 100 * time.Minute, 125 * time.Minute}, false},
		{"active within absolute", []time.Duration{25 * time.Minute, 50 * time.Minute, 75 * time.Minute, 100 * time.Minute}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := now
			s := NewSessions(30*time.Minute, 2*time.Hour)
			s.now = func() time.Time { return clock }
			rec := httptest.NewRecorder()
			// What the OIDC callback does.
			if err := s.Start(rec, httptest.NewRequest(http.MethodGet, "/auth/oidc/callback", nil), &authz.Principal{Name: "sso-user"}); err != nil {
				t.Fatal(err)
			}
			cookie := rec.Result().Cookies()[0]
			var got *session
			for _, at := range tt.steps {
				clock = now.Add(at)
				req := httptest.NewRequest(http.MethodGet, "/ui/", nil)
				req.AddCookie(cookie)
				got = s.get(req)
			}
			if (got != nil) != tt.alive {
				t.Fatalf("session alive = %v, want %v", got != nil, tt.alive)
			}
			if got != nil && (got.principal.Name != "sso-user" || got.local || got.csrf == "") {
				t.Errorf("session = %+v", got)
			}
		})
	}
}

// TestSessionsBounded: past the cap, anonymous sessions go first.
func TestSessionsBounded(t *testing.T) {
	s := NewSessions(0, 0)
	now := time.Now()
	for i := range maxSessions {
		var p *authz.Principal
		if i%2 == 0 {
			p = &authz.Principal{Name: "u"}
		}
		s.byKey[keyOf(strconv.Itoa(i))] = &session{principal: p, created: now, seen: now}
	}
	if _, err := s.start(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/ui/signin", nil), nil, false); err != nil {
		t.Fatal(err)
	}
	signedIn := 0
	for _, sess := range s.byKey {
		if sess.principal != nil {
			signedIn++
		}
	}
	if s.Len() > maxSessions || signedIn != maxSessions/2 {
		t.Errorf("after the cap: %d sessions, %d signed in; want at most %d with all %d signed-in kept", s.Len(), signedIn, maxSessions, maxSessions/2)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/ui/repositories?q=a": "/ui/repositories?q=a",
		"":                     "/ui/",
		"//evil.example/ui/":   "/ui/",
		"https://evil.example": "/ui/",
		"/ui/\\evil":           "/ui/",
		"/api/v1/users":        "/ui/",
		"/ui/x\r\nSet-Cookie:": "/ui/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
