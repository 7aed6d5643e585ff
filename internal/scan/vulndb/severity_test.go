package vulndb

import (
	"math"
	"testing"
)

func TestCVSSBaseScore(t *testing.T) {
	tests := []struct {
		vector string
		score  float64
		ok     bool
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, true},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H", 6.5, true},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5, true},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:L", 3.7, true},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, true},
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, true},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, true},
		{"CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.5, true},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0, true},
		{"CVSS:3.1/AV:N/AC:L", 0, false},
		{"CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 0, false},
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", 0, false}, // v2: not rated
		{"CVSS:9.9/whatever", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.vector, func(t *testing.T) {
			got, ok := CVSSBaseScore(tt.vector)
			if ok != tt.ok || math.Abs(got-tt.score) > 1e-9 {
				t.Fatalf("CVSSBaseScore = %v, %v; want %v, %v", got, ok, tt.score, tt.ok)
			}
		})
	}
}

func TestSeverityOf(t *testing.T) {
	v31 := osvSeverity{"CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H"}                    // 6.5
	v40 := osvSeverity{"CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"} // 9.3
	bad := osvSeverity{"CVSS_V3", "CVSS:3.1/garbage"}
	tests := []struct {
		name  string
		sev   []osvSeverity
		text  string
		want  Severity
		score float64
	}{
		{"v3.1 only", []osvSeverity{v31}, "", SeverityMedium, 6.5},
		{"v4.0 preferred over v3.1", []osvSeverity{v31, v40}, "", SeverityCritical, 9.3},
		{"v4.0 first still preferred", []osvSeverity{v40, v31}, "LOW", SeverityCritical, 9.3},
		{"vector beats the word", []osvSeverity{v31}, "CRITICAL", SeverityMedium, 6.5},
		{"bad vector falls back to the word", []osvSeverity{bad}, "MODERATE", SeverityMedium, 0},
		{"GitHub word", nil, "HIGH", SeverityHigh, 0},
		{"Red Hat word", nil, "Important", SeverityHigh, 0},
		{"Debian word", nil, "unimportant", SeverityLow, 0},
		{"Ubuntu severity type", []osvSeverity{{"Ubuntu", "medium"}}, "", SeverityMedium, 0},
		{"nothing", nil, "", SeverityUnknown, 0},
		{"unknown word", nil, "urgent-ish", SeverityUnknown, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, score, _ := severityOf(tt.sev, tt.text)
			if got != tt.want || math.Abs(score-tt.score) > 1e-9 {
				t.Fatalf("severityOf = %s %v; want %s %v", got, score, tt.want, tt.score)
			}
		})
	}
}

func TestFromScoreBoundaries(t *testing.T) {
	tests := []struct {
		score float64
		want  Severity
	}{{0, SeverityLow}, {3.9, SeverityLow}, {4.0, SeverityMedium}, {6.9, SeverityMedium}, {7.0, SeverityHigh}, {8.9, SeverityHigh}, {9.0, SeverityCritical}, {10, SeverityCritical}}
	for _, tt := range tests {
		if got := FromScore(tt.score); got != tt.want {
			t.Errorf("FromScore(%v) = %s, want %s", tt.score, got, tt.want)
		}
	}
	if !(SeverityCritical.Rank() > SeverityHigh.Rank() && SeverityLow.Rank() > SeverityUnknown.Rank()) {
		t.Fatal("Rank does not order severities")
	}
}
