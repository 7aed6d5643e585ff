package authn

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "horse") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: salt not random")
	}
	tests := []struct {
		name string
		hash string
		pw   string
		want bool
	}{
		{"right", h, "correct horse", true},
		{"wrong", h, "correct horsE", false},
		{"empty", h, "", false},
		{"garbage hash", "$argon2id$v=19$m=x", "correct horse", false},
		{"huge memory", strings.Replace(h, "m=19456", "m=99999999", 1), "correct horse", false},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuv", "correct horse", false},
		{"empty hash", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyPassword(tt.hash, tt.pw); got != tt.want {
				t.Errorf("VerifyPassword = %v, want %v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"short", strings.Repeat("x", MaxPasswordLen+1)} {
		if _, err := HashPassword(bad); err == nil {
			t.Errorf("HashPassword(%d bytes) accepted", len(bad))
		}
	}
}

func TestValidUserName(t *testing.T) {
	for name, ok := range map[string]bool{"alice": true, "ci-bot.1@team": true, "A_b": true, "": false, "-x": false, "a:b": false, "a b": false, strings.Repeat("a", 65): false} {
		if err := ValidUserName(name); (err == nil) != ok {
			t.Errorf("ValidUserName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
