package audit_test

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

// Records reach a real syslog listener on 127.0.0.1 as one JSON message
// each, at facility auth and severity info; a redelivered event is sent once.
func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	l, err := audit.Open(store, audit.Options{Syslog: "udp://" + pc.LocalAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	ctx := context.Background()
	recs := []metadata.AuditRecord{
		{Actor: "ci", ClientIP: "10.0.0.7", Action: "manifest.pushed", Repo: "team/app", Reference: "1.0", Result: metadata.AuditOK, EventID: 7},
		{Actor: "ci", Action: "manifest.pushed", Repo: "team/app", Reference: "1.0", Result: metadata.AuditOK, EventID: 7}, // redelivered
		{Actor: "mallory", ClientIP: "192.0.2.1", Action: audit.ActionLogin, Result: metadata.AuditFailed},
	}
	for _, r := range recs {
		if err := l.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var got []metadata.AuditRecord
	buf := make([]byte, 64<<10)
	for range 2 {
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(got), err)
		}
		msg := string(buf[:n])
		// RFC 3164 framing by log/syslog: <priority>timestamp host tag[pid]: message
		if !strings.HasPrefix(msg, "<38>") || !strings.Contains(msg, " berth[") {
			t.Errorf("message %q: want priority 38 (auth.info) and tag berth", msg)
		}
		_, body, _ := strings.Cut(msg, "]: ")
		var r metadata.AuditRecord
		if err := json.Unmarshal([]byte(strings.TrimSpace(body)), &r); err != nil {
			t.Fatalf("message body %q: %v", body, err)
		}
		got = append(got, r)
	}
	if got[0].Actor != "ci" || got[0].ClientIP != "10.0.0.7" || got[0].Reference != "1.0" || got[0].ID == 0 ||
		got[1].Actor != "mallory" || got[1].Result != metadata.AuditFailed {
		t.Errorf("messages %+v", got)
	}
	_ = pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _, err := pc.ReadFrom(buf); err == nil {
		t.Errorf("a third message: %q (the redelivered event must be sent once)", buf[:n])
	}
}

func TestSyslogBadURL(t *testing.T) {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, u := range []string{"/dev/log", "http://127.0.0.1:514", "udp://127.0.0.1", "unixgram:///nonexistent/berth-test.sock"} {
		if l, err := audit.Open(store, audit.Options{Syslog: u}); err == nil {
			l.Close()
			t.Errorf("Open with syslog %q succeeded", u)
		}
	}
}
