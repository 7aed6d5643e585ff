package schedule

import (
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParse(t *testing.T) {
	tests := []struct {
		spec    string
		cron    bool
		last    string // start of the last run
		next    string // "" for the zero time
		wantErr string
	}{
		{spec: "24h", last: "2026-06-01T10:00:00Z", next: "2026-06-02T10:00:00Z"},
		{spec: "1d", last: "2026-06-01T10:00:00Z", next: "2026-06-02T10:00:00Z"},
		{spec: "@every 6h", last: "2026-06-01T10:00:00Z", next: "2026-06-01T16:00:00Z"},
		{spec: "@daily", last: "2026-06-01T10:30:00Z", next: "2026-06-02T10:30:00Z"},
		{spec: "@weekly", last: "2026-06-01T00:00:00Z", next: "2026-06-08T00:00:00Z"},
		{spec: "2d3h", next: ""},
		{spec: "0 3 * * *", cron: true, last: "2026-06-01T10:00:00Z", next: "2026-06-02T03:00:00Z"},
		{spec: "0 3 * * *", cron: true, last: "2026-06-01T02:59:00Z", next: "2026-06-01T03:00:00Z"},
		{spec: "*/15 * * * *", cron: true, last: "2026-06-01T10:07:30Z", next: "2026-06-01T10:15:00Z"},
		{spec: "30 4 * * 0", cron: true, last: "2026-06-01T10:00:00Z", next: "2026-06-07T04:30:00Z"}, // Sunday
		{spec: "0 0 1 * *", cron: true, last: "2026-06-01T00:00:00Z", next: "2026-07-01T00:00:00Z"},
		{spec: "CRON_TZ=Europe/Berlin 0 3 * * *", cron: true, last: "2026-06-01T10:00:00Z", next: "2026-06-02T01:00:00Z"},
		{spec: "0 3 * *", wantErr: "want a cron expression"},
		{spec: "61 3 * * *", wantErr: "end of range (61) above maximum (59)"},
		{spec: "0 3 * * * *", wantErr: "want a cron expression"},
		{spec: "1ms", wantErr: "must be at least 1s"},
		{spec: "soon", wantErr: "want a cron expression"},
		{spec: "CRON_TZ=Mars/Base 0 3 * * *", wantErr: "provided bad location"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			s, err := Parse(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) = %v, want error containing %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.IsZero() || s.IsCron() != tt.cron || s.String() != tt.spec {
				t.Errorf("Parse(%q) = zero %v, cron %v, %q", tt.spec, s.IsZero(), s.IsCron(), s)
			}
			var last, want time.Time
			if tt.last != "" {
				last = at(tt.last)
			}
			if tt.next != "" {
				want = at(tt.next)
			}
			if got := s.Next(last); !got.Equal(want) {
				t.Errorf("Next(%s) = %s, want %s", last, got, want)
			}
		})
	}
}

func TestDue(t *testing.T) {
	set := at("2026-06-01T10:00:00Z")
	tests := []struct {
		spec string
		last time.Time
		now  string
		want bool
	}{
		{"", time.Time{}, "2026-06-09T00:00:00Z", false},
		{"24h", time.Time{}, "2026-06-01T10:00:00Z", true}, // never run: at once
		{"24h", set, "2026-06-02T09:59:59Z", false},
		{"24h", set, "2026-06-02T10:00:00Z", true},
		{"0 3 * * *", time.Time{}, "2026-06-01T23:00:00Z", false}, // never run: first 03:00 after it was set
		{"0 3 * * *", time.Time{}, "2026-06-02T03:00:00Z", true},
		{"0 3 * * *", at("2026-06-02T03:00:00Z"), "2026-06-02T12:00:00Z", false},
		{"0 3 * * *", at("2026-06-02T03:00:00Z"), "2026-06-05T12:00:00Z", true}, // missed days: one run
	}
	for _, tt := range tests {
		t.Run(tt.spec+" "+tt.now, func(t *testing.T) {
			s, err := Parse(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Due(tt.last, set, at(tt.now)); got != tt.want {
				t.Errorf("Due = %v, want %v", got, tt.want)
			}
		})
	}
}
