package oci

import (
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"alpine", true},
		{"library/alpine", true},
		{"a/b/c/d", true},
		{"my-app.v2/sub_dir__x", true},
		{"a--b", true},
		{"", false},
		{"Upper", false},
		{"-lead", false},
		{"trail-", false},
		{"a//b", false},
		{"a/", false},
		{"/a", false},
		{"a_-b", false},
		{"a..b", false},
		{"a___b", false},
		{"a:b", false},
		{strings.Repeat("a", MaxNameLength), true},
		{strings.Repeat("a", MaxNameLength+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidName(tt.name); got != tt.ok {
				t.Errorf("ValidName(%q) = %v, want %v", tt.name, got, tt.ok)
			}
		})
	}
}

func TestValidTag(t *testing.T) {
	tests := []struct {
		tag string
		ok  bool
	}{
		{"latest", true},
		{"v1.2.3", true},
		{"_x", true},
		{"A-b_c.d", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{".lead", false},
		{"-lead", false},
		{"a:b", false},
		{"a/b", false},
		{"sha256:abc", false},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			if got := ValidTag(tt.tag); got != tt.ok {
				t.Errorf("ValidTag(%q) = %v, want %v", tt.tag, got, tt.ok)
			}
		})
	}
}

func TestParseDigest(t *testing.T) {
	sha256hex := strings.Repeat("a", 64)
	sha512hex := strings.Repeat("b", 128)
	tests := []struct {
		in string
		ok bool
	}{
		{"sha256:" + sha256hex, true},
		{"sha512:" + sha512hex, true},
		{"sha256:" + sha256hex[:63], false},
		{"sha256:" + strings.ToUpper(sha256hex), false},
		{"sha384:" + strings.Repeat("c", 96), false},
		{"md5:d41d8cd98f00b204e9800998ecf8427e", false},
		{"sha256", false},
		{"", false},
		{"sha256:" + sha256hex + "\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := ParseDigest(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseDigest(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if tt.ok && d.String() != tt.in {
				t.Errorf("ParseDigest(%q) = %q", tt.in, d)
			}
		})
	}
}

func TestIsDigest(t *testing.T) {
	if !IsDigest("sha256:" + strings.Repeat("a", 64)) {
		t.Error("a digest is not recognised")
	}
	if IsDigest("latest") {
		t.Error("a tag is taken for a digest")
	}
}

// Whatever the input, the validators answer without panicking, and what
// they accept fits the grammar's hard limits.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"library/alpine", "a__b", "sha256:" + strings.Repeat("0", 64), "v1.0", "", "a/../b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidName(s) {
			if len(s) > MaxNameLength || strings.Contains(s, "..") || strings.Contains(s, "//") || strings.ContainsAny(s, ":@ ") {
				t.Fatalf("ValidName accepted %q", s)
			}
		}
		if ValidTag(s) && (len(s) > 128 || strings.ContainsAny(s, ":/@")) {
			t.Fatalf("ValidTag accepted %q", s)
		}
		if d, err := ParseDigest(s); err == nil {
			if d.Validate() != nil || d.String() != s {
				t.Fatalf("ParseDigest accepted %q as %q", s, d)
			}
		}
	})
}
