package scanner_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/scan/vulndb"
	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

const osRelease = "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"

const dpkgStatus = `Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1

`

// critical is a Debian advisory for zlib written for these tests in the
// shape osv.dev publishes, with a CVSS 3.1 vector rated CRITICAL.
const critical = `{"schema_version":"1.6.0","id":"DEBIAN-CVE-2099-0001","modified":"2099-01-01T00:00:00Z",
"aliases":["CVE-2099-0001"],"summary":"zlib test advisory",
"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
"affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.3.dfsg-1"}]}]}]}`

// counting counts Opens of a real blob store, to prove a rematch reads no layer.
type counting struct {
	*fsblob.Store
	opens atomic.Int64
}

func (c *counting) Open(ctx context.Context, d digest.Digest) (storage.Blob, error) {
	c.opens.Add(1)
	return c.Store.Open(ctx, d)
}

type env struct {
	t     *testing.T
	ctx   context.Context
	blobs *counting
	meta  *sqlite.Store
	db    *vulndb.Holder
	sc    *scanner.Scanner
}

func newEnv(t *testing.T, dbPaths ...string) *env {
	t.Helper()
	ctx := t.Context()
	fs, err := fsblob.Open(ctx, filepath.Join(t.TempDir(), "blobs"), fsblob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	e := &env{t: t, ctx: ctx, blobs: &counting{Store: fs}, meta: meta, db: &vulndb.Holder{}}
	if len(dbPaths) > 0 {
		db, err := scanner.LoadDB(ctx, dbPaths)
		if err != nil {
			t.Fatal(err)
		}
		e.db.Store(db)
	}
	e.sc = scanner.New(meta, e.blobs, e.db, scanner.Options{Workers: 2})
	e.sc.Start(ctx)
	t.Cleanup(e.sc.Stop)
	return e
}

func gz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[n]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func (e *env) blob(repo string, b []byte) digest.Digest {
	e.t.Helper()
	up, err := e.blobs.Create(e.ctx, repo)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.blobs.Append(e.ctx, up.ID, 0, bytes.NewReader(b)); err != nil {
		e.t.Fatal(err)
	}
	d := digest.FromBytes(b)
	if _, err := e.blobs.Commit(e.ctx, up.ID, d); err != nil {
		e.t.Fatal(err)
	}
	if err := e.meta.LinkBlob(e.ctx, repo, d, int64(len(b))); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) manifest(repo string, content []byte, mediaType string, blobs, children []digest.Digest, tags ...string) digest.Digest {
	e.t.Helper()
	d := digest.FromBytes(content)
	m := &metadata.Manifest{Repo: repo, Digest: d, MediaType: mediaType, Size: int64(len(content)), Content: content, Blobs: blobs, Children: children}
	if err := e.meta.PutManifest(e.ctx, m, tags); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// image pushes an image of the given layers (raw blobs) and returns its digest.
func (e *env) image(repo, configType string, layers [][]byte, tags ...string) digest.Digest {
	e.t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cd := e.blob(repo, cfg)
	type desc struct {
		MediaType string        `json:"mediaType"`
		Digest    digest.Digest `json:"digest"`
		Size      int64         `json:"size"`
	}
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{2, "application/vnd.oci.image.manifest.v1+json", desc{configType, cd, int64(len(cfg))}, []desc{}}
	blobs := []digest.Digest{cd}
	for _, l := range layers {
		d := e.blob(repo, l)
		blobs = append(blobs, d)
		m.Layers = append(m.Layers, desc{"application/vnd.oci.image.layer.v1.tar+gzip", d, int64(len(l))})
	}
	content, _ := json.Marshal(m)
	return e.manifest(repo, content, m.MediaType, blobs, nil, tags...)
}

func (e *env) debian(repo string, tags ...string) digest.Digest {
	return e.image(repo, "application/vnd.oci.image.config.v1+json",
		[][]byte{gz(e.t, map[string]string{"etc/os-release": osRelease, "var/lib/dpkg/status": dpkgStatus})}, tags...)
}

// push announces d as the registry does, through the event handler.
func (e *env) push(repo string, d digest.Digest) {
	e.t.Helper()
	if err := e.sc.HandleEvent(e.ctx, metadata.Event{Type: metadata.EventManifestPushed, Repo: repo, Digest: d}); err != nil {
		e.t.Fatal(err)
	}
}

// wait polls until the scan of d is finished, and returns its report.
func (e *env) wait(repo string, d digest.Digest) *scanner.Report {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := e.sc.Report(e.ctx, repo, d)
		if err != nil && !errors.Is(err, scanner.ErrNotScanned) {
			e.t.Fatal(err)
		}
		if r != nil && r.Status != metadata.ScanPending && r.Status != metadata.ScanScanning {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("scan of %s@%s not finished: %+v", repo, d, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ids(r *scanner.Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.ID+":"+string(f.Severity))
	}
	return out
}

// debianDB writes the test advisory to a directory of its own.
func debianDB(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "DEBIAN-CVE-2099-0001.json"), []byte(critical), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

const goDB = "../vulndb/testdata/go"

func TestScanOnPushAndRematch(t *testing.T) {
	e := newEnv(t, goDB)
	d := e.debian("team/app", "v1")
	e.push("team/app", d)
	r := e.wait("team/app", d)
	if r.Status != metadata.ScanComplete || len(r.Findings) != 0 || r.Summary == nil || r.DBVersion == "" {
		t.Fatalf("first scan = %+v, want complete with no findings and a summary", r)
	}
	v1 := r.DBVersion
	opens := e.blobs.opens.Load()
	if opens == 0 {
		t.Fatal("the scan opened no layer")
	}

	// The same content pushed to a second repository shares the scan.
	d2 := e.debian("other/app", "prod")
	if d2 != d {
		t.Fatal("same content, different digest")
	}
	e.push("other/app", d2)
	if r := e.wait("other/app", d2); r.Status != metadata.ScanComplete || e.blobs.opens.Load() != opens {
		t.Fatalf("second push: %+v, opens %d → %d; want the shared scan, no layer read", r, opens, e.blobs.opens.Load())
	}

	// A database with one more advisory: rematched in memory.
	res, err := e.sc.Reload(e.ctx, []string{goDB, debianDB(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Rematch.State != scanner.RematchRunning || res.Rematch.Total != 1 || res.Rematch.Version != res.Status.Version {
		t.Errorf("Reload = %+v, want changed, a rematch of 1 running", res)
	}
	if st := e.sc.WaitRematch(e.ctx); st.State != scanner.RematchDone || st.Done != 1 || st.Rematched != 1 || st.NewCritical != 1 || st.Finished == nil {
		t.Errorf("rematch = %+v, want done, 1 rematched, 1 new critical", st)
	}
	if got := e.blobs.opens.Load(); got != opens {
		t.Errorf("rematch opened %d blobs; want none", got-opens)
	}
	r = e.wait("team/app", d)
	if r.DBVersion == v1 || !slices.Equal(ids(r), []string{"DEBIAN-CVE-2099-0001:CRITICAL"}) || r.Highest != vulndb.SeverityCritical {
		t.Errorf("after rematch: version %s ids %v highest %s", r.DBVersion, ids(r), r.Highest)
	}
	f := r.Findings[0]
	if f.Package != "zlib1g" || f.InstalledVersion != "1:1.2.13.dfsg-1" || f.CVSSScore != 9.8 || f.FixStatus != "fixed" || f.Layer == "" {
		t.Errorf("finding = %+v", f)
	}
	evs, err := e.meta.PendingEvents(e.ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var crit []metadata.Event
	for _, ev := range evs {
		if ev.Type == metadata.EventScanNewCritical {
			crit = append(crit, ev)
		}
	}
	if len(crit) != 1 || crit[0].Digest != d || crit[0].Repo != "team/app" ||
		!strings.Contains(string(crit[0].Detail), `"ids":["DEBIAN-CVE-2099-0001"]`) {
		t.Errorf("scan.new_critical events = %+v, want one for %s", crit, d)
	}
	// Reloading the same data changes nothing and emits nothing.
	if res, err := e.sc.Reload(e.ctx, []string{goDB, debianDB(t)}); err != nil || res.Changed || res.Rematch.State != scanner.RematchDone {
		t.Errorf("second Reload = %+v, %v; want unchanged", res, err)
	}

	aff, err := e.sc.Affected(e.ctx, "CVE-2099-0001", metadata.Page{})
	if err != nil || len(aff) != 2 || aff[0].Repo != "other/app" || aff[1].Repo != "team/app" || aff[1].Tags[0] != "v1" {
		t.Errorf("Affected(CVE-2099-0001) = %+v, %v; want both repositories", aff, err)
	}
	tv, err := e.sc.RepoVulns(e.ctx, "team/app", metadata.Page{})
	if err != nil || len(tv) != 1 || tv[0].Tag != "v1" || tv[0].Highest != vulndb.SeverityCritical || tv[0].Summary[vulndb.SeverityCritical] != 1 {
		t.Errorf("RepoVulns = %+v, %v", tv, err)
	}
}

func TestIndexAggregates(t *testing.T) {
	e := newEnv(t, goDB, debianDB(t))
	good := e.debian("multi")
	// A layer that is not a tar stream: the inventory is partial.
	bad := e.image("multi", "application/vnd.oci.image.config.v1+json", [][]byte{[]byte("\x1f\x8b\x08 not really gzip")})
	idx := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + good.String() + `","size":1},` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + bad.String() + `","size":1}]}`)
	d := e.manifest("multi", idx, "application/vnd.oci.image.index.v1+json", nil, []digest.Digest{good, bad}, "latest")
	e.push("multi", d)
	r := e.wait("multi", d)
	if r.Status != metadata.ScanPartial || len(r.Children) != 2 {
		t.Fatalf("index = %+v, want partial with two children", r)
	}
	if r.Children[0].Status != metadata.ScanComplete || r.Children[1].Status != metadata.ScanPartial || r.Children[1].Reason == "" {
		t.Errorf("children = %+v", r.Children)
	}
	if !slices.Equal(ids(r), []string{"DEBIAN-CVE-2099-0001:CRITICAL"}) || r.Summary[vulndb.SeverityCritical] != 1 {
		t.Errorf("index findings %v summary %v; want the good child's", ids(r), r.Summary)
	}
}

func TestUnreadableAndUnsupported(t *testing.T) {
	e := newEnv(t, goDB)
	tests := []struct {
		name   string
		push   func() digest.Digest
		status string
	}{
		{"missing layer", func() digest.Digest {
			d := e.debian("x/missing")
			m, _ := e.meta.Manifest(e.ctx, "x/missing", d)
			var p struct {
				Layers []struct{ Digest digest.Digest }
			}
			json.Unmarshal(m.Content, &p)
			if err := e.blobs.Delete(e.ctx, p.Layers[0].Digest); err != nil {
				t.Fatal(err)
			}
			return d
		}, metadata.ScanFailed},
		{"artifact", func() digest.Digest {
			return e.image("x/artifact", "application/vnd.example.sbom", [][]byte{[]byte("{}")})
		}, metadata.ScanSkipped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.push()
			repo := map[string]string{"missing layer": "x/missing", "artifact": "x/artifact"}[tt.name]
			e.push(repo, d)
			r := e.wait(repo, d)
			if r.Status != tt.status || r.Reason == "" || r.Summary != nil || len(r.Findings) != 0 {
				t.Errorf("report = %+v, want %s with a reason and no summary", r, tt.status)
			}
		})
	}
}

func TestNoDatabase(t *testing.T) {
	e := newEnv(t)
	d := e.debian("nodb")
	e.push("nodb", d)
	r := e.wait("nodb", d)
	if r.Status != metadata.ScanSkipped || r.Reason != scanner.ReasonNoDatabase || r.Summary != nil {
		t.Errorf("report = %+v, want skipped: no database, no summary", r)
	}
	if n := e.blobs.opens.Load(); n != 0 {
		t.Errorf("opened %d blobs with scanning disabled", n)
	}
	if _, err := e.sc.Reload(e.ctx, nil); !errors.Is(err, scanner.ErrNoSources) {
		t.Errorf("Reload without sources: %v", err)
	}
}

// TestRecover: a scan a stopped server left pending is queued again at
// start, and an image skipped for want of a database is scanned once one
// is loaded.
func TestRecover(t *testing.T) {
	e := newEnv(t)
	skipped := e.debian("a")
	e.push("a", skipped)
	if r := e.wait("a", skipped); r.Status != metadata.ScanSkipped {
		t.Fatalf("without a database: %+v", r)
	}
	e.sc.Stop()
	pending := e.image("b", "application/vnd.oci.image.config.v1+json",
		[][]byte{gz(t, map[string]string{"etc/os-release": osRelease, "var/lib/dpkg/status": dpkgStatus, "x": "y"})})
	if err := e.meta.SaveScan(e.ctx, &metadata.ScanRecord{Digest: pending, Repo: "b", Status: metadata.ScanPending}, nil); err != nil {
		t.Fatal(err)
	}
	db, err := scanner.LoadDB(e.ctx, []string{debianDB(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.db.Store(db)
	e.sc = scanner.New(e.meta, e.blobs, e.db, scanner.Options{})
	e.sc.Start(e.ctx)
	t.Cleanup(e.sc.Stop)
	for _, c := range []struct {
		repo string
		d    digest.Digest
	}{{"a", skipped}, {"b", pending}} {
		// Requeueing runs beside the workers: poll for the result.
		deadline := time.Now().Add(20 * time.Second)
		for {
			r, err := e.sc.Report(e.ctx, c.repo, c.d)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status == metadata.ScanComplete && len(r.Findings) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s after restart: %s with %v", c.repo, r.Status, ids(r))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestBombIsPartial: a layer that decompresses past the configured cap
// ends the scan partial with the reason, and the findings of what was
// read are still reported.
func TestBombIsPartial(t *testing.T) {
	e := newEnv(t, debianDB(t))
	e.sc.Stop()
	e.sc = scanner.New(e.meta, e.blobs, e.db, scanner.Options{Inventory: inventory.Options{Limits: inventory.Limits{MaxUncompressedBytes: 1 << 20}}})
	e.sc.Start(e.ctx)
	t.Cleanup(e.sc.Stop)
	bomb := gz(t, map[string]string{"zeros": strings.Repeat("\x00", 16<<20)})
	d := e.image("bomb", "application/vnd.oci.image.config.v1+json", [][]byte{
		gz(t, map[string]string{"etc/os-release": osRelease, "var/lib/dpkg/status": dpkgStatus}), bomb})
	e.push("bomb", d)
	r := e.wait("bomb", d)
	if r.Status != metadata.ScanPartial || r.Reason == "" || !slices.Equal(ids(r), []string{"DEBIAN-CVE-2099-0001:CRITICAL"}) {
		t.Errorf("bomb = %s %q %v, want partial with a reason and the zlib finding", r.Status, r.Reason, ids(r))
	}
	t.Logf("reason: %s (bomb layer %d bytes)", r.Reason, len(bomb))
}
