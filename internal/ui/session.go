package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/access/authz"
)

// SessionCookie names the session cookie. Its value is a random id; all
// state stays on the server.
const SessionCookie = "berth_session"

// maxSessions bounds the store. Past it, expired sessions are swept and
// then anonymous ones (made only to carry a sign-in form's CSRF token)
// are dropped first.
const maxSessions = 100_000

// Sessions are kept in memory, not in the metadata database. A session
// is touched on every request (idle expiry), which in the database would
// be a write per page view through the single writer every push also
// waits on; the embedded database serves one process, so a replica could
// not share it anyway. The cost is that a restart signs everyone out,
// which sessions must survive anyway (they expire within hours).
type Sessions struct {
	mu       sync.Mutex
	byKey    map[[32]byte]*session
	idle     time.Duration
	absolute time.Duration
	now      func() time.Time
}

// session is one browser's state; a copy is handed to handlers.
type session struct {
	key       [32]byte
	principal *authz.Principal // nil: not signed in
	// local sessions came from a password and re-read the account on
	// every request; others (OIDC) keep the principal they were given.
	local   bool
	csrf    string
	created time.Time
	seen    time.Time
}

// NewSessions returns an empty store; zero lifetimes take the defaults
// (30 minutes idle, 12 hours absolute).
func NewSessions(idle, absolute time.Duration) *Sessions {
	if idle <= 0 {
		idle = 30 * time.Minute
	}
	if absolute <= 0 {
		absolute = 12 * time.Hour
	}
	return &Sessions{byKey: map[[32]byte]*session{}, idle: idle, absolute: absolute, now: time.Now}
}

// Start signs p in: any session the request carried ends (a new id after
// sign-in defeats session fixation) and a new one is set in the cookie.
// The OIDC callback calls it with the principal it established.
func (s *Sessions) Start(w http.ResponseWriter, r *http.Request, p *authz.Principal) error {
	_, err := s.start(w, r, p, false)
	return err
}

func (s *Sessions) start(w http.ResponseWriter, r *http.Request, p *authz.Principal, local bool) (*session, error) {
	s.drop(r)
	id, err := randomToken()
	if err != nil {
		return nil, err
	}
	csrf, err := randomToken()
	if err != nil {
		return nil, err
	}
	now := s.now()
	sess := &session{key: keyOf(id), principal: p, local: local, csrf: csrf, created: now, seen: now}
	s.mu.Lock()
	s.makeRoom(now)
	s.byKey[sess.key] = sess
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/ui", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(s.absolute / time.Second)})
	c := *sess
	return &c, nil
}

// End signs the request's session out and clears the cookie.
func (s *Sessions) End(w http.ResponseWriter, r *http.Request) {
	s.drop(r)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/ui", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

func (s *Sessions) drop(r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		s.mu.Lock()
		delete(s.byKey, keyOf(c.Value))
		s.mu.Unlock()
	}
}

// get returns a copy of the request's live session, touching it, or nil.
func (s *Sessions) get(r *http.Request) *session {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil
	}
	k := keyOf(c.Value)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byKey[k]
	if sess == nil {
		return nil
	}
	if s.expired(sess, now) {
		delete(s.byKey, k)
		return nil
	}
	sess.seen = now
	cp := *sess
	return &cp
}

// update replaces the principal of a live session (a re-read account).
func (s *Sessions) update(key [32]byte, p *authz.Principal) {
	s.mu.Lock()
	if sess := s.byKey[key]; sess != nil {
		sess.principal = p
	}
	s.mu.Unlock()
}

func (s *Sessions) remove(key [32]byte) {
	s.mu.Lock()
	delete(s.byKey, key)
	s.mu.Unlock()
}

// Len is the number of sessions held, expired ones not yet swept included.
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byKey)
}

func (s *Sessions) expired(sess *session, now time.Time) bool {
	return now.Sub(sess.seen) > s.idle || now.Sub(sess.created) > s.absolute
}

// makeRoom keeps the store under maxSessions; s.mu is held.
func (s *Sessions) makeRoom(now time.Time) {
	if len(s.byKey) < maxSessions {
		return
	}
	for k, sess := range s.byKey {
		if s.expired(sess, now) {
			delete(s.byKey, k)
		}
	}
	for k, sess := range s.byKey {
		if len(s.byKey) < maxSessions {
			return
		}
		if sess.principal == nil {
			delete(s.byKey, k)
		}
	}
	for k := range s.byKey {
		if len(s.byKey) < maxSessions {
			return
		}
		delete(s.byKey, k)
	}
}

// keyOf hashes a session id: the map never holds a usable cookie value.
func keyOf(id string) [32]byte { return sha256.Sum256([]byte(id)) }

func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
