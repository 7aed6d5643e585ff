package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// Headers of a delivery.
const (
	SignatureHeader = "Berth-Signature"
	DeliveryHeader  = "Berth-Delivery"
	EventHeader     = "Berth-Event"
	ContentType     = "application/cloudevents+json"
)

// Event types that are not outbox events.
const (
	// EventPulled is delivered from memory (see Dispatcher.Pulled).
	EventPulled = "manifest.pulled"
	// EventPing is what Ping sends.
	EventPing = "ping"
)

// TypePrefix turns an event type into a CloudEvents type:
// manifest.pushed is io.berth.manifest.pushed.
const TypePrefix = "io.berth."

// CloudEvent is a CloudEvents 1.0 event in structured JSON mode.
type CloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            time.Time       `json:"time"`
	Subject         string          `json:"subject,omitempty"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// Data is the data of every event: the outbox event's fields.
type Data struct {
	Repository string          `json:"repository,omitempty"`
	Tag        string          `json:"tag,omitempty"`
	Digest     string          `json:"digest,omitempty"`
	MediaType  string          `json:"mediaType,omitempty"`
	Size       int64           `json:"size,omitempty"`
	Actor      string          `json:"actor,omitempty"`
	ClientIP   string          `json:"clientIP,omitempty"`
	Detail     json.RawMessage `json:"detail,omitempty"`
}

// Payload renders e as the body of a delivery. id is the CloudEvents id:
// the outbox event ID, which a receiver uses to drop redeliveries.
func Payload(source, id string, e metadata.Event) ([]byte, error) {
	data, err := json.Marshal(Data{Repository: e.Repo, Tag: e.Tag, Digest: e.Digest.String(), MediaType: e.MediaType,
		Size: e.Size, Actor: e.Actor, ClientIP: e.ClientIP, Detail: e.Detail})
	if err != nil {
		return nil, fmt.Errorf("encoding event data: %w", err)
	}
	ce := CloudEvent{SpecVersion: "1.0", ID: id, Source: source, Type: TypePrefix + e.Type,
		Time: e.At.UTC(), Subject: subject(e), DataContentType: "application/json", Data: data}
	if ce.Time.IsZero() {
		ce.Time = time.Now().UTC()
	}
	b, err := json.Marshal(ce)
	if err != nil {
		return nil, fmt.Errorf("encoding cloud event: %w", err)
	}
	return b, nil
}

// subject is repo:tag, repo@digest, repo, or the tag alone for events
// outside any repository (a policy's or a webhook's name).
func subject(e metadata.Event) string {
	switch {
	case e.Repo == "":
		return e.Tag
	case e.Tag != "":
		return e.Repo + ":" + e.Tag
	case e.Digest != "":
		return e.Repo + "@" + e.Digest.String()
	}
	return e.Repo
}

// Sign returns the signature header value of body sent at t:
// t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verification failures.
var (
	ErrSignature = errors.New("webhook signature does not match")
	ErrStale     = errors.New("webhook signature timestamp outside the tolerance")
)

// Verify checks a signature header value against body, as a receiver
// does: some v1 must match, and t must be within tolerance of now.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var (
		ts   string
		sigs [][]byte
	)
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no timestamp", ErrSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignature
}
