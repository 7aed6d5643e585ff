package token

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"repository:team/app:pull,push", "registry:catalog:*", "repository(plugin):a:pull", "a:b:c:d", ":::", "repository:a:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseScope(s)
		if err != nil {
			return
		}
		if err := a.validate(); err != nil {
			t.Fatalf("ParseScope(%q) = %+v, which does not validate: %v", s, a, err)
		}
		if again, err := ParseScope(a.String()); err != nil || !reflect.DeepEqual(again, a) {
			t.Fatalf("ParseScope(%q) = %+v; its String does not parse back: %+v, %v", s, a, again, err)
		}
	})
}

func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	ks, err := OpenKeySet(context.Background(), dir)
	if err != nil {
		f.Fatal(err)
	}
	good, err := NewIssuer(ks, testIss, testAud).Issue("alice", pushPull, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("e30.e30.")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	v := NewVerifier(ks, testIss, testAud)
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(tok)
		if err != nil {
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			return
		}
		// The signature covers every byte before it and strict base64
		// gives each signature one encoding, so only the genuine token
		// can verify.
		if tok != good {
			t.Fatalf("Verify accepted %q, which the issuer never signed", tok)
		}
	})
}
