package retention

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "30d", want: 30 * Day},
		{in: "2d3h6m", want: 2*Day + 3*time.Hour + 6*time.Minute},
		{in: "12h", want: 12 * time.Hour},
		{in: "0d", want: 0},
		{in: "0", want: 0},
		{in: "1d30s", want: Day + 30*time.Second},
		{in: "90m", want: 90 * time.Minute},
		{in: "1.5h", want: 90 * time.Minute},
		{in: "007d", want: 7 * Day},
		{in: "", wantErr: "empty"},
		{in: "-1d", wantErr: "negative"},
		{in: "1d-1h", wantErr: "sign"},
		{in: "-5m", wantErr: "negative"},
		{in: "1.5d", wantErr: "unknown unit"},
		{in: "3h2d", wantErr: "unknown unit"},
		{in: "d", wantErr: "invalid"},
		{in: "5", wantErr: "missing unit"},
		{in: "1d1d", wantErr: "unknown unit"},
		{in: "99999999999999999999d", wantErr: "too many days"},
		{in: "106752d", wantErr: "too many days"},
		{in: "106751d24h", wantErr: "too long"},
		{in: "30 d", wantErr: "unknown unit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || time.Duration(got) != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, time.Duration(got), err, tt.want)
			}
		})
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0d"},
		{30 * Day, "30d"},
		{2*Day + 3*time.Hour + 6*time.Minute, "2d3h6m"},
		{12 * time.Hour, "12h"},
		{2*time.Hour + 5*time.Second, "2h0m5s"},
		{Day + 1500*time.Millisecond, "1d1.5s"},
		{10 * time.Minute, "10m"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := Duration(tt.d).String(); got != tt.want {
				t.Errorf("String(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	var p Policy
	if err := json.Unmarshal([]byte(`{"olderThan":"2d3h","pulledWithin":"7d","maxTags":3}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.OlderThan == nil || time.Duration(*p.OlderThan) != 2*Day+3*time.Hour || time.Duration(p.PulledWithin) != 7*Day || *p.MaxTags != 3 {
		t.Errorf("decoded %+v", p)
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"olderThan":"2d3h"`) {
		t.Errorf("encoded %s", out)
	}
	if err := json.Unmarshal([]byte(`{"olderThan":"yesterday"}`), &p); err == nil {
		t.Error("accepted a bad duration")
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "2d3h6m", "12h", "0", "1.5h", "-1d", "1d-1h", "9223372036854775807ns", "106751d23h47m16s", "d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v: negative", s, time.Duration(d))
		}
		// What parses must format back to something that parses the same.
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("round trip %q -> %q -> %v, %v", s, d.String(), time.Duration(back), err)
		}
	})
}
