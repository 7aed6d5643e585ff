package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/webhook"
)

// receiver is a real HTTP endpoint that verifies every delivery's
// signature and records what it was sent.
type receiver struct {
	t      *testing.T
	secret string
	status func(n int) int // status of the nth request (1-based)
	block  chan struct{}   // if set, requests wait on it

	mu  sync.Mutex
	got []delivery
	srv *httptest.Server
}

type delivery struct {
	at      time.Time
	header  http.Header
	event   webhook.CloudEvent
	data    webhook.Data
	sigOK   bool
	rawBody []byte
}

func newReceiver(t *testing.T, status func(int) int) *receiver {
	r := &receiver{t: t, status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	if r.block != nil {
		select {
		case <-r.block:
		case <-req.Context().Done():
			return
		}
	}
	body, _ := io.ReadAll(req.Body)
	d := delivery{at: time.Now(), header: req.Header.Clone(), rawBody: body}
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	d.sigOK = webhook.Verify(secret, req.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute) == nil
	if err := json.Unmarshal(body, &d.event); err == nil {
		_ = json.Unmarshal(d.event.Data, &d.data)
	}
	r.mu.Lock()
	r.got = append(r.got, d)
	n := len(r.got)
	r.mu.Unlock()
	code := http.StatusOK
	if r.status != nil {
		code = r.status(n)
	}
	w.WriteHeader(code)
	_, _ = io.WriteString(w, strings.Repeat("x", 3000)) // more than the log keeps
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var loopback = &webhook.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

type harness struct {
	store *sqlite.Store
	d     *webhook.Dispatcher
	ctx   context.Context
}

func start(t *testing.T, opts webhook.Options) *harness {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Guard == nil {
		opts.Guard = loopback
	}
	opts.Poll = 20 * time.Millisecond
	d := webhook.New(s, opts)
	ctx, cancel := context.WithCancel(metadata.WithActor(context.Background(), "admin"))
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	return &harness{store: s, d: d, ctx: ctx}
}

func (h *harness) create(t *testing.T, r *receiver, w metadata.Webhook) *metadata.Webhook {
	t.Helper()
	w.URL, w.Enabled = r.srv.URL+"/hook", true
	got, err := h.d.Create(h.ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.secret = got.Secret
	r.mu.Unlock()
	return got
}

var pushEvent = metadata.Event{ID: 41, Type: metadata.EventManifestPushed, Repo: "team/app", Tag: "v1",
	Digest: digest.FromString("m"), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 512, Actor: "ci",
	At: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}

func TestDeliverSignedCloudEvent(t *testing.T) {
	h := start(t, webhook.Options{})
	r := newReceiver(t, nil)
	w := h.create(t, r, metadata.Webhook{Name: "ci", Events: []string{"push"}})
	if !strings.HasPrefix(w.Secret, "whsec_") {
		t.Fatalf("generated secret %q", w.Secret)
	}
	if err := h.d.HandleEvent(h.ctx, pushEvent); err != nil {
		t.Fatal(err)
	}
	if err := h.d.HandleEvent(h.ctx, pushEvent); err != nil { // redelivered by the relay
		t.Fatal(err)
	}
	if err := h.d.HandleEvent(h.ctx, metadata.Event{ID: 42, Type: metadata.EventTagDeleted, Repo: "team/app", Tag: "v1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a delivery", func() bool { return len(r.deliveries()) > 0 })
	time.Sleep(60 * time.Millisecond) // a few polls: nothing else arrives
	got := r.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want one (the push; once; the tag deletion is not subscribed)", len(got))
	}
	d := got[0]
	if !d.sigOK {
		t.Errorf("signature %q does not verify", d.header.Get(webhook.SignatureHeader))
	}
	if ct := d.header.Get("Content-Type"); ct != webhook.ContentType {
		t.Errorf("Content-Type %q", ct)
	}
	e := d.event
	if e.SpecVersion != "1.0" || e.ID != "41" || e.Type != "io.berth.manifest.pushed" || e.Subject != "team/app:v1" ||
		e.Source != "/berth" || !e.Time.Equal(pushEvent.At) || e.DataContentType != "application/json" {
		t.Errorf("cloud event %s", d.rawBody)
	}
	if d.data.Digest != pushEvent.Digest.String() || d.data.Size != 512 || d.data.Actor != "ci" || d.data.Repository != "team/app" {
		t.Errorf("data %+v", d.data)
	}
	if d.header.Get(webhook.DeliveryHeader) == "" || d.header.Get(webhook.EventHeader) != metadata.EventManifestPushed {
		t.Errorf("headers %v", d.header)
	}
	waitFor(t, "the log entry", func() bool {
		log, _ := h.d.Deliveries(h.ctx, "ci", 10)
		return len(log) == 1 && log[0].State == metadata.DeliveryDelivered
	})
	log, _ := h.d.Deliveries(h.ctx, "ci", 10)
	if l := log[0]; l.Attempts != 1 || l.StatusCode != 200 || l.EventID != 41 || len(l.Response) != 1024 || l.Duration <= 0 {
		t.Errorf("log entry %+v", l)
	}
}

func TestRetriesWithBackoffThenGivesUp(t *testing.T) {
	const minBackoff = 40 * time.Millisecond
	h := start(t, webhook.Options{MinBackoff: minBackoff, MaxBackoff: time.Second, MaxAttempts: 4})
	r := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	h.create(t, r, metadata.Webhook{Name: "flaky"})
	if err := h.d.HandleEvent(h.ctx, pushEvent); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delivery to be given up", func() bool {
		log, _ := h.d.Deliveries(h.ctx, "flaky", 10)
		return len(log) == 1 && log[0].State == metadata.DeliveryFailed
	})
	got := r.deliveries()
	if len(got) != 4 {
		t.Fatalf("%d attempts, want 4", len(got))
	}
	for i := 1; i < len(got); i++ {
		// Equal jitter: the wait after attempt i is in [b/2, b], b = min·2^(i-1).
		gap, floor := got[i].at.Sub(got[i-1].at), minBackoff<<(i-1)/2
		if gap < floor {
			t.Errorf("gap before attempt %d = %v, want at least %v", i+1, gap, floor)
		}
		if got[i].event.ID != "41" || !got[i].sigOK {
			t.Errorf("attempt %d: id %q, signature ok %v", i+1, got[i].event.ID, got[i].sigOK)
		}
	}
	log, _ := h.d.Deliveries(h.ctx, "flaky", 10)
	if l := log[0]; l.Attempts != 4 || l.StatusCode != 503 || !strings.Contains(l.Error, "503") || !l.NextTry.IsZero() {
		t.Errorf("log entry %+v", l)
	}
}

func TestRecoversAfterFailures(t *testing.T) {
	h := start(t, webhook.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxAttempts: 10})
	r := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	h.create(t, r, metadata.Webhook{Name: "recovers"})
	if err := h.d.HandleEvent(h.ctx, pushEvent); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", func() bool {
		log, _ := h.d.Deliveries(h.ctx, "recovers", 10)
		return len(log) == 1 && log[0].State == metadata.DeliveryDelivered
	})
	log, _ := h.d.Deliveries(h.ctx, "recovers", 10)
	if log[0].Attempts != 3 || log[0].StatusCode != 200 || log[0].Error != "" {
		t.Errorf("log entry %+v, want delivered on the third attempt", log[0])
	}
}

// A receiver that never answers holds up only its own subscription.
func TestSlowTargetDoesNotBlockOthers(t *testing.T) {
	h := start(t, webhook.Options{Timeout: 5 * time.Second})
	slow := newReceiver(t, nil)
	slow.block = make(chan struct{})
	defer close(slow.block)
	fast := newReceiver(t, nil)
	h.create(t, slow, metadata.Webhook{Name: "slow"})
	h.create(t, fast, metadata.Webhook{Name: "fast"})
	for i := range int64(3) {
		e := pushEvent
		e.ID = 100 + i
		if err := h.d.HandleEvent(h.ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the fast receiver", func() bool { return len(fast.deliveries()) == 3 })
}

func TestPing(t *testing.T) {
	h := start(t, webhook.Options{})
	ok := newReceiver(t, nil)
	failing := newReceiver(t, func(int) int { return http.StatusTeapot })
	h.create(t, ok, metadata.Webhook{Name: "ok"})
	h.create(t, failing, metadata.Webhook{Name: "teapot"})
	for _, tc := range []struct {
		name   string
		r      *receiver
		state  string
		status int
	}{
		{"ok", ok, metadata.DeliveryDelivered, 200},
		{"teapot", failing, metadata.DeliveryFailed, 418},
	} {
		res, err := h.d.Ping(h.ctx, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if res.State != tc.state || res.StatusCode != tc.status || res.ID == 0 {
			t.Errorf("ping %s = %+v", tc.name, res)
		}
		got := tc.r.deliveries()
		if len(got) != 1 || got[0].event.Type != "io.berth.ping" || !got[0].sigOK || got[0].event.Subject != tc.name {
			t.Errorf("receiver %s got %+v", tc.name, got)
		}
		log, _ := h.d.Deliveries(h.ctx, tc.name, 10)
		if len(log) != 1 || log[0].EventType != webhook.EventPing {
			t.Errorf("log of %s = %+v", tc.name, log)
		}
	}
	if _, err := h.d.Ping(h.ctx, "absent"); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("ping of an absent webhook = %v", err)
	}
}

func TestPullsWhenIncluded(t *testing.T) {
	h := start(t, webhook.Options{})
	with, without := newReceiver(t, nil), newReceiver(t, nil)
	h.create(t, with, metadata.Webhook{Name: "with", IncludePulls: true, RepoRegex: "team/.*"})
	h.create(t, without, metadata.Webhook{Name: "without"})
	d := digest.FromString("m")
	h.d.Pulled([]metadata.Pull{{Repo: "team/app", Digest: d, At: time.Now()}, {Repo: "other/app", Digest: d, At: time.Now()}})
	waitFor(t, "the pull", func() bool { return len(with.deliveries()) == 1 })
	time.Sleep(60 * time.Millisecond)
	got := with.deliveries()
	if len(got) != 1 || got[0].event.Type != "io.berth.manifest.pulled" || got[0].event.Subject != "team/app@"+d.String() || !got[0].sigOK {
		t.Errorf("pull deliveries %+v", got)
	}
	if n := len(without.deliveries()); n != 0 {
		t.Errorf("a subscription without pulls got %d", n)
	}
}

// Without an allowlist, internal targets are refused when created and,
// if one got into the store anyway (DNS that changed its answer), when
// dialled: the delivery fails at once and the receiver sees nothing.
func TestInternalTargetsRefused(t *testing.T) {
	h := start(t, webhook.Options{Guard: &webhook.Guard{}})
	r := newReceiver(t, nil)
	port := r.srv.URL[strings.LastIndexByte(r.srv.URL, ':'):]
	for _, u := range []string{r.srv.URL, "http://10.0.0.1/", "http://169.254.169.254/latest", "http://[::1]" + port + "/", "http://[fd00:ec2::254]/"} {
		_, err := h.d.Create(h.ctx, metadata.Webhook{Name: "x", URL: u, Enabled: true})
		if !errors.Is(err, webhook.ErrTarget) {
			t.Errorf("Create(%s) = %v, want ErrTarget", u, err)
		}
	}
	if err := h.store.PutWebhook(h.ctx, metadata.Webhook{Name: "rebound", URL: "http://localhost" + port + "/", Secret: webhook.NewSecret(), Enabled: true}, true); err != nil {
		t.Fatal(err)
	}
	h.d.Changed()
	if err := h.d.HandleEvent(h.ctx, pushEvent); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refusal", func() bool {
		log, _ := h.d.Deliveries(h.ctx, "rebound", 10)
		return len(log) == 1 && log[0].State == metadata.DeliveryFailed
	})
	log, _ := h.d.Deliveries(h.ctx, "rebound", 10)
	if log[0].Attempts != 1 || !strings.Contains(log[0].Error, "refused") {
		t.Errorf("log entry %+v, want one attempt refused", log[0])
	}
	if n := len(r.deliveries()); n != 0 {
		t.Errorf("the internal receiver got %d requests", n)
	}
}
