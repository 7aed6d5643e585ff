package registry

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/gc"
	"github.com/berth-registry/berth/internal/lifecycle/policy"
	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/oci"
)

// acked is a manifest the registry answered 201 for and nobody deleted.
type acked struct {
	repo  string
	d     digest.Digest
	body  []byte
	blobs map[digest.Digest][]byte
}

// TestGCKeepsAcknowledgedPushes runs the collector with no grace period,
// and a retention policy (tags v1*, untagged manifests, no recycle bin),
// in loops while pushers upload (monolithic, chunked, mounted), push,
// retag and delete through the real handler. Every manifest acknowledged
// with 201 and deleted by neither a pusher nor retention must then be
// pullable with all its blobs. Pushes may fail (a layer condemned under
// them); acknowledged ones may not.
func TestGCKeepsAcknowledgedPushes(t *testing.T) {
	if testing.Short() {
		t.Skip("concurrency soak")
	}
	e := newEnv(t, Options{})
	col := gc.New(e.reg.opts.Blobs.(gc.Blobs), e.meta, e.reg.opts.Blobs.(gc.Uploads), nil)

	stop := make(chan struct{})
	var gcRuns, gcBlobs atomic.Int64
	gcDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				gcDone <- nil
				return
			default:
			}
			res, err := col.Run(context.Background(), gc.Options{UploadGrace: time.Hour})
			if err != nil {
				gcDone <- err
				return
			}
			gcRuns.Add(1)
			gcBlobs.Add(int64(res.Blobs))
			// A breath between runs lets some pushes finish inside one.
			time.Sleep(2 * time.Millisecond)
		}
	}()

	const workers, images = 6, 25
	var (
		mu       sync.Mutex
		live     = map[string]acked{} // repo@digest
		failures atomic.Int64
		wg       sync.WaitGroup
		// retained is what retention deleted: repo@digest of manifests;
		// gone is what a pusher found deleted already.
		retained = map[string]bool{}
		gone     []string
	)
	pol, err := policy.Decode("soak", []byte(`{"tags":{"include":["v1.*"]},"olderThan":"0d","untaggedOlderThan":"0d"}`))
	if err != nil {
		t.Fatal(err)
	}
	adapter := policy.NewAdapter(e.meta, false)
	var retRuns, retDeleted atomic.Int64
	retDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				retDone <- nil
				return
			default:
			}
			plan, err := retention.BuildPlan(context.Background(), adapter, pol, time.Now())
			if err != nil {
				retDone <- err
				return
			}
			res, err := retention.Apply(context.Background(), plan, adapter, adapter, retention.ApplyOptions{})
			if err != nil {
				retDone <- err
				return
			}
			mu.Lock()
			for _, o := range res.Deleted {
				if o.Kind == retention.KindManifest {
					retained[o.Repo+"@"+o.Digest.String()] = true
				}
			}
			mu.Unlock()
			retRuns.Add(1)
			retDeleted.Add(int64(len(res.Deleted)))
			time.Sleep(3 * time.Millisecond)
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &pusher{e: e, t: t}
			var mine []acked
			for i := range images {
				repo := fmt.Sprintf("w%d/r%d", w, i%3)
				// Layers shared with every worker make blobs that are
				// orphaned, collected and pushed again under the GC.
				layers := [][]byte{
					[]byte(fmt.Sprintf("shared layer %d", i%4)),
					[]byte(fmt.Sprintf("own layer %d/%d", w, i)),
				}
				a, ok := p.pushImage(repo, fmt.Sprintf("v%d", i), layers, w*1000+i)
				if !ok {
					failures.Add(1)
					continue
				}
				mine = append(mine, a)
				mu.Lock()
				live[a.repo+"@"+a.d.String()] = a
				mu.Unlock()
				switch i % 5 {
				case 1: // retag
					p.do(http.MethodPut, "/v2/"+repo+"/manifests/latest", a.body, "Content-Type", oci.MediaTypeImageManifest)
				case 3: // delete an older image by digest
					old := mine[0]
					mine = mine[1:]
					mu.Lock()
					delete(live, old.repo+"@"+old.d.String())
					mu.Unlock()
					r := p.do(http.MethodDelete, "/v2/"+old.repo+"/manifests/"+old.d.String(), nil)
					switch r.status {
					case http.StatusAccepted:
					case http.StatusNotFound: // retention's, checked below
						mu.Lock()
						gone = append(gone, old.repo+"@"+old.d.String())
						mu.Unlock()
					default:
						t.Errorf("delete: %d %s", r.status, r.body)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-gcDone; err != nil {
		t.Fatalf("gc: %v", err)
	}
	if err := <-retDone; err != nil {
		t.Fatalf("retention: %v", err)
	}
	for k := range retained {
		delete(live, k)
	}
	for _, k := range gone {
		if !retained[k] {
			t.Errorf("%s vanished before its pusher deleted it, and retention did not delete it", k)
		}
	}
	// One more collection with nothing in flight must not change the answer.
	if _, err := col.Run(context.Background(), gc.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged manifests live, %d pushes failed, %d gc runs deleted %d blobs, %d retention runs deleted %d tags and manifests",
		len(live), failures.Load(), gcRuns.Load(), gcBlobs.Load(), retRuns.Load(), retDeleted.Load())
	if len(live) == 0 || gcRuns.Load() == 0 || gcBlobs.Load() == 0 || retDeleted.Load() == 0 {
		t.Fatal("the soak exercised nothing: no pushes acknowledged, nothing collected or nothing retained")
	}
	for _, a := range live {
		r := e.do(http.MethodGet, "/v2/"+a.repo+"/manifests/"+a.d.String(), nil)
		if r.status != http.StatusOK || !bytes.Equal(r.body, a.body) {
			t.Errorf("acknowledged manifest %s@%s: %d", a.repo, a.d, r.status)
			continue
		}
		for d, content := range a.blobs {
			r := e.do(http.MethodGet, "/v2/"+a.repo+"/blobs/"+d.String(), nil)
			if r.status != http.StatusOK || !bytes.Equal(r.body, content) {
				t.Errorf("blob %s of acknowledged %s@%s: %d", d, a.repo, a.d, r.status)
			}
		}
	}
}

// pusher is one client, tolerant of refusals: it reports whether the
// manifest was acknowledged.
type pusher struct {
	e *testEnv
	t *testing.T
}

// do is testEnv.do minus the fatal on transport errors, from a goroutine.
func (p *pusher) do(method, path string, body []byte, header ...string) response {
	return p.e.do(method, path, body, header...)
}

func (p *pusher) pushImage(repo, tag string, layers [][]byte, n int) (acked, bool) {
	config := []byte(fmt.Sprintf(`{"n":%d}`, n))
	blobs := map[digest.Digest][]byte{digest.FromBytes(config): config}
	for _, l := range layers {
		blobs[digest.FromBytes(l)] = l
	}
	for attempt := range 5 {
		ok := true
		for i, content := range append([][]byte{config}, layers...) {
			if !p.pushBlob(repo, content, (n+i+attempt)%3) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		body := manifestFor(config, layers)
		r := p.do(http.MethodPut, "/v2/"+repo+"/manifests/"+tag, body, "Content-Type", oci.MediaTypeImageManifest)
		if r.status == http.StatusCreated {
			return acked{repo: repo, d: digest.FromBytes(body), body: body, blobs: blobs}, true
		}
	}
	return acked{}, false
}

// pushBlob skips a blob the repository has, as clients do after a HEAD,
// and otherwise uploads it one of three ways.
func (p *pusher) pushBlob(repo string, content []byte, how int) bool {
	d := digest.FromBytes(content)
	if r := p.do(http.MethodHead, "/v2/"+repo+"/blobs/"+d.String(), nil); r.status == http.StatusOK {
		return true
	}
	switch how {
	case 0:
		return p.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), content).status == http.StatusCreated
	case 1:
		r := p.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?mount="+d.String(), nil)
		if r.status == http.StatusCreated {
			return true
		}
		if r.status != http.StatusAccepted {
			return false
		}
		return p.do(http.MethodPut, r.header.Get("Location")+"?digest="+d.String(), content).status == http.StatusCreated
	default:
		r := p.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
		if r.status != http.StatusAccepted {
			return false
		}
		r = p.do(http.MethodPatch, r.header.Get("Location"), content)
		if r.status != http.StatusAccepted {
			return false
		}
		return p.do(http.MethodPut, r.header.Get("Location")+"?digest="+d.String(), nil).status == http.StatusCreated
	}
}

func manifestFor(config []byte, layers [][]byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[`,
		oci.MediaTypeImageManifest, digest.FromBytes(config), len(config))
	for i, l := range layers {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}`, digest.FromBytes(l), len(l))
	}
	b.WriteString("]}")
	return b.Bytes()
}
