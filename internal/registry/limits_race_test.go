package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/quota"
)

// gatedBody sends its first byte at once and the rest after gate closes,
// so that uploads admitted by the server stay in flight together.
type gatedBody struct {
	data []byte
	sent int
	gate <-chan struct{}
}

func (b *gatedBody) Read(p []byte) (int, error) {
	if b.sent == len(b.data) {
		return 0, io.EOF
	}
	var n int
	if b.sent == 0 {
		n = copy(p, b.data[:1])
	} else {
		<-b.gate
		n = copy(p, b.data[b.sent:])
	}
	b.sent += n
	return n, nil
}

// TestQuotaHoldsForParallelUploads starts six 300 kB uploads into a
// repository with a 1 MB quota and holds them in flight: the reservations
// admit three and refuse three before any byte is written, and the quota
// is not overshot once they finish. (Bodies over net/http's 256 kB
// post-handler read make the server answer a refusal without waiting for
// the rest of the body.)
func TestQuotaHoldsForParallelUploads(t *testing.T) {
	e := newEnv(t, Options{})
	const size = 300_000
	e.limit(quota.Options{Repos: []quota.Rule{{Pattern: "q", Limit: 1_000_000}}})
	gate := make(chan struct{})
	type result struct {
		d      digest.Digest
		status int
		body   string
	}
	results := make(chan result, 6)
	var wg sync.WaitGroup
	for i := range 6 {
		content := []byte(fmt.Sprintf("%0*d", size, i))
		d := digest.FromBytes(content)
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/v2/q/blobs/uploads/?digest="+d.String(), &gatedBody{data: content, gate: gate})
			if err != nil {
				t.Error(err)
				return
			}
			req.ContentLength = int64(len(content))
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{d, resp.StatusCode, string(b)}
		})
	}
	var got []result
	// The refusals come back while the admitted uploads wait at the gate.
	deadline := time.After(10 * time.Second)
wait:
	for len(got) < 3 {
		select {
		case r := <-results:
			got = append(got, r)
		case <-deadline:
			break wait
		}
	}
	close(gate)
	wg.Wait()
	close(results)
	for r := range results {
		got = append(got, r)
	}
	created, refused := 0, 0
	for _, r := range got {
		switch {
		case r.status == http.StatusCreated:
			created++
		case r.status == http.StatusForbidden && strings.Contains(r.body, "quota exceeded: repository q uses 0 of 1000000 bytes (and 900000 bytes are being uploaded)"):
			refused++
			if n, stored := e.leftovers(r.d); n != 0 || stored {
				t.Errorf("refused upload left %d uploads, blob stored: %v", n, stored)
			}
		default:
			t.Errorf("upload %s: %d %s", r.d, r.status, r.body)
		}
	}
	used, err := e.meta.RepoBytes(context.Background(), "q")
	if err != nil {
		t.Fatal(err)
	}
	if created != 3 || refused != 3 || used != 3*size {
		t.Errorf("created %d, refused %d, q uses %d bytes; want 3, 3 and %d of its 1000000", created, refused, used, 3*size)
	}
}
