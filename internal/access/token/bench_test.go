package token

import (
	"context"
	"testing"
	"time"
)

func BenchmarkVerify(b *testing.B) {
	ks, err := OpenKeySet(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	tok, err := NewIssuer(ks, testIss, testAud).Issue("alice", pushPull, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	v := NewVerifier(ks, testIss, testAud)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
