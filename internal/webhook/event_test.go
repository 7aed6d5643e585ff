package webhook

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

func TestSignVerify(t *testing.T) {
	body := []byte(`{"specversion":"1.0"}`)
	now := time.Unix(1_800_000_000, 0)
	sig := Sign("secret-secret-16", now, body)
	for _, tc := range []struct {
		name, secret, header string
		body                 []byte
		at                   time.Time
		want                 error
	}{
		{"valid", "secret-secret-16", sig, body, now, nil},
		{"within tolerance", "secret-secret-16", sig, body, now.Add(4 * time.Minute), nil},
		{"second of two signatures", "secret-secret-16", "t=1800000000,v1=00ff," + sig[len("t=1800000000,"):], body, now, nil},
		{"wrong secret", "other-secret-16b", sig, body, now, ErrSignature},
		{"tampered body", "secret-secret-16", sig, []byte(`{"specversion":"1.1"}`), now, ErrSignature},
		{"replayed later", "secret-secret-16", sig, body, now.Add(6 * time.Minute), ErrStale},
		{"timestamp moved", "secret-secret-16", "t=1800000100" + sig[len("t=1800000000"):], body, now, ErrSignature},
		{"no timestamp", "secret-secret-16", sig[len("t=1800000000,"):], body, now, ErrSignature},
		{"garbage", "secret-secret-16", "v1=zz", body, now, ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Verify(tc.secret, tc.header, tc.body, tc.at, 5*time.Minute); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPayloadSubject(t *testing.T) {
	d := digest.FromString("x")
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		e             metadata.Event
		typ, subject  string
		repo, digestS string
	}{
		{metadata.Event{ID: 7, Type: "manifest.pushed", Repo: "team/app", Tag: "v1", Digest: d, At: at}, "io.berth.manifest.pushed", "team/app:v1", "team/app", d.String()},
		{metadata.Event{ID: 8, Type: "manifest.deleted", Repo: "team/app", Digest: d, At: at}, "io.berth.manifest.deleted", "team/app@" + d.String(), "team/app", d.String()},
		{metadata.Event{ID: 9, Type: "retention.run", Tag: "nightly", At: at}, "io.berth.retention.run", "nightly", "", ""},
	} {
		b, err := Payload("/berth", "7", tc.e)
		if err != nil {
			t.Fatal(err)
		}
		var ce struct {
			CloudEvent
			Data Data `json:"data"`
		}
		if err := json.Unmarshal(b, &ce); err != nil {
			t.Fatal(err)
		}
		if ce.SpecVersion != "1.0" || ce.ID != "7" || ce.Source != "/berth" || ce.Type != tc.typ || ce.Subject != tc.subject ||
			!ce.Time.Equal(at) || ce.DataContentType != "application/json" || ce.Data.Repository != tc.repo || ce.Data.Digest != tc.digestS {
			t.Errorf("%s: cloud event %s", tc.e.Type, b)
		}
	}
}
