package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	scanreport "github.com/berth-registry/berth/internal/scan/report"
	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// ScanReader reads stored scans; *scanner.Scanner is one.
type ScanReader interface {
	Report(ctx context.Context, repo string, d digest.Digest) (*scanner.Report, error)
	WriteSBOM(ctx context.Context, w io.Writer, repo string, d digest.Digest, f scanreport.Format) error
	// InventorySBOM is the SBOM of the inventory alone, as scan.attach_sbom
	// attaches it: no findings, stamped with the image's creation time.
	InventorySBOM(ctx context.Context, repo string, d digest.Digest, f scanreport.Format) ([]byte, error)
	RepoVulns(ctx context.Context, repo string, p metadata.Page) ([]scanner.TagVulns, error)
	Affected(ctx context.Context, id string, p metadata.Page) ([]metadata.AffectedImage, error)
}

// ScanRunner starts scans and reloads the vulnerability database.
type ScanRunner interface {
	Rescan(ctx context.Context, repo string, d digest.Digest) error
	// Status is the loaded database, nil when none is.
	Status() *vulndb.Status
	// RematchStatus is the background rematch that follows a database
	// change: running, or the last one.
	RematchStatus() scanner.RematchStatus
	Reload(ctx context.Context) (scanner.ReloadResult, error)
	// Import adds or replaces the OSV zip called name, then reloads.
	Import(ctx context.Context, name string, r io.Reader) (scanner.ReloadResult, error)
	// ImportFrom imports a path on the server (directory or zip) or an
	// artifact (oci://REF) the same way.
	ImportFrom(ctx context.Context, source string) (scanner.ReloadResult, error)
}

// Scans serves the scanning endpoints (docs/scanning.md):
//
//	GET  /api/v1/vulndb                                      database status
//	POST /api/v1/vulndb/reload                               re-import, swap, rematch
//	POST /api/v1/vulndb/import?name=X.zip                    store an uploaded zip, reload
//	POST /api/v1/vulndb/import {"source": PATH|oci://REF}    import from the server's side, reload
//	GET  /api/v1/repositories/{name}/manifests/{digest}/scan [?format=cyclonedx|spdx[&findings=false]]
//	POST /api/v1/repositories/{name}/manifests/{digest}/scan rescan now
//	GET  /api/v1/repositories/{name}/vulnerabilities         per tag
//	GET  /api/v1/vulnerabilities/{id}                        images affected
type Scans struct {
	read ScanReader
	run  ScanRunner
	api  *API // for fail and page sizes
}

// NewScans returns the scanning endpoints.
func NewScans(read ScanReader, run ScanRunner, a *API) *Scans {
	return &Scans{read: read, run: run, api: a}
}

const (
	scanSuffix  = "/scan"
	vulnsSuffix = "/vulnerabilities"
	vulnsPrefix = "vulnerabilities/"
)

// WithScans routes the scanning endpoints to s and the rest to next.
func WithScans(next http.Handler, s *Scans) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.route(r) != nil {
			s.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// route returns the handler of r, or nil if r is not a scanning endpoint.
// Repository names contain slashes: the suffix decides, as in API.
func (s *Scans) route(r *http.Request) func(http.ResponseWriter, *http.Request) error {
	path := strings.TrimPrefix(r.URL.Path, Prefix)
	switch {
	case path == "vulndb" && r.Method == http.MethodGet:
		return s.status
	case path == "vulndb/reload" && r.Method == http.MethodPost:
		return s.reload
	case path == "vulndb/import" && r.Method == http.MethodPost:
		return s.importDB
	case strings.HasPrefix(path, vulnsPrefix) && len(path) > len(vulnsPrefix) && r.Method == http.MethodGet:
		id := path[len(vulnsPrefix):]
		return func(w http.ResponseWriter, r *http.Request) error { return s.affected(w, r, id) }
	case strings.HasPrefix(path, reposPrefix) && strings.HasSuffix(path, scanSuffix):
		rest := path[len(reposPrefix) : len(path)-len(scanSuffix)]
		i := strings.LastIndex(rest, manifestsSuffix+"/")
		if i <= 0 {
			return nil
		}
		repo, ref := rest[:i], rest[i+len(manifestsSuffix)+1:]
		switch r.Method {
		case http.MethodGet:
			return func(w http.ResponseWriter, r *http.Request) error { return s.report(w, r, repo, ref) }
		case http.MethodPost:
			return func(w http.ResponseWriter, r *http.Request) error { return s.rescan(w, r, repo, ref) }
		}
	case strings.HasPrefix(path, reposPrefix) && strings.HasSuffix(path, vulnsSuffix) &&
		len(path) > len(reposPrefix)+len(vulnsSuffix) && r.Method == http.MethodGet:
		repo := path[len(reposPrefix) : len(path)-len(vulnsSuffix)]
		return func(w http.ResponseWriter, r *http.Request) error { return s.repoVulns(w, r, repo) }
	}
	return nil
}

func (s *Scans) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := s.route(r)
	if h == nil {
		s.api.fail(w, r, notFound(r.URL.Path))
		return
	}
	if err := h(w, r); err != nil {
		s.api.fail(w, r, scanError(err))
	}
}

// scanError maps the scanner's conditions to API errors.
func scanError(err error) error {
	switch {
	case errors.Is(err, scanner.ErrNotScanned):
		return oci.Errorf(oci.CodeManifestUnknown, "%v; POST to the same URL to scan it", err)
	case errors.Is(err, metadata.ErrNotFound), errors.Is(err, metadata.ErrRepoNotFound):
		return oci.Errorf(oci.CodeManifestUnknown, "%v", err)
	case errors.Is(err, scanner.ErrImportName):
		return oci.Errorf(oci.CodeUnsupported, "%v", err).WithStatus(http.StatusBadRequest)
	case errors.Is(err, vulndb.ErrLimit):
		return oci.Errorf(oci.CodeSizeInvalid, "%v", err).WithStatus(http.StatusRequestEntityTooLarge)
	case errors.Is(err, scanner.ErrNoSources):
		return oci.Errorf(oci.CodeUnsupported, "%v", err).WithStatus(http.StatusConflict)
	}
	return err
}

func (s *Scans) parse(repo, ref string) (digest.Digest, error) {
	if !oci.ValidName(repo) {
		return "", oci.Errorf(oci.CodeNameInvalid, "invalid repository name")
	}
	d, err := digest.Parse(ref)
	if err != nil {
		return "", oci.Errorf(oci.CodeDigestInvalid, "%q: a scan is addressed by digest", ref)
	}
	return d, nil
}

// DBStatus is the body of GET /api/v1/vulndb.
type DBStatus struct {
	// Status is "loaded", or "skipped" with Reason "no database".
	Status string         `json:"status"`
	Reason string         `json:"reason,omitempty"`
	DB     *vulndb.Status `json:"db,omitempty"`
	// Rematch is the re-match of stored inventories to the loaded version:
	// state, version, done of total.
	Rematch *scanner.RematchStatus `json:"rematch,omitempty"`
}

func (s *Scans) status(w http.ResponseWriter, r *http.Request) error {
	st := s.run.Status()
	if st == nil {
		return writeJSON(w, r, DBStatus{Status: metadata.ScanSkipped, Reason: scanner.ReasonNoDatabase})
	}
	rm := s.run.RematchStatus()
	return writeJSON(w, r, DBStatus{Status: "loaded", DB: st, Rematch: &rm})
}

func (s *Scans) reload(w http.ResponseWriter, r *http.Request) error {
	res, err := s.run.Reload(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, r, res)
}

// ImportRequest is the JSON body of POST /api/v1/vulndb/import when the
// data is on the server's side.
type ImportRequest struct {
	// Source is a directory or zip on the server, or oci://REF.
	Source string `json:"source"`
}

// importDB takes an uploaded zip (any content type but JSON, ?name=) or a
// JSON ImportRequest. The database is swapped only if the import loads.
func (s *Scans) importDB(w http.ResponseWriter, r *http.Request) error {
	var (
		res scanner.ReloadResult
		err error
	)
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(ct) == "application/json" {
		var req ImportRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil || req.Source == "" {
			return oci.Errorf(oci.CodeUnsupported, "want {\"source\": \"PATH or oci://REF\"}").WithStatus(http.StatusBadRequest)
		}
		res, err = s.run.ImportFrom(r.Context(), req.Source)
	} else {
		res, err = s.run.Import(r.Context(), r.URL.Query().Get("name"), r.Body)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, r, res)
}

func (s *Scans) report(w http.ResponseWriter, r *http.Request, repo, ref string) error {
	d, err := s.parse(repo, ref)
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		rep, err := s.read.Report(r.Context(), repo, d)
		if err != nil {
			return err
		}
		return writeJSON(w, r, rep)
	}
	f, err := scanreport.ParseFormat(format)
	if err != nil || (f != scanreport.CycloneDX && f != scanreport.SPDX && f != scanreport.JSON) {
		return oci.Errorf(oci.CodeUnsupported, "format %q: want cyclonedx, spdx or json", format).WithStatus(http.StatusBadRequest)
	}
	var buf bytes.Buffer
	if r.URL.Query().Get("findings") == "false" && f != scanreport.JSON {
		b, err := s.read.InventorySBOM(r.Context(), repo, d, f)
		if err != nil {
			return err
		}
		buf.Write(b)
	} else if err := s.read.WriteSBOM(r.Context(), &buf, repo, d, f); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = buf.WriteTo(w)
	return err
}

func (s *Scans) rescan(w http.ResponseWriter, r *http.Request, repo, ref string) error {
	d, err := s.parse(repo, ref)
	if err != nil {
		return err
	}
	if err := s.run.Rescan(r.Context(), repo, d); err != nil {
		return err
	}
	rep, err := s.read.Report(r.Context(), repo, d)
	if err != nil {
		return err
	}
	w.Header().Set("Location", r.URL.Path)
	w.WriteHeader(http.StatusAccepted)
	return writeJSON(w, r, rep)
}

// RepoVulnerabilities is the body of GET /api/v1/repositories/{name}/vulnerabilities.
type RepoVulnerabilities struct {
	Repository string             `json:"repository"`
	Tags       []scanner.TagVulns `json:"tags"`
	Next       string             `json:"next,omitempty"`
}

func (s *Scans) repoVulns(w http.ResponseWriter, r *http.Request, repo string) error {
	if !oci.ValidName(repo) {
		return oci.Errorf(oci.CodeNameInvalid, "invalid repository name")
	}
	n, err := s.api.pageSize(r.URL.Query())
	if err != nil {
		return err
	}
	tags, err := s.read.RepoVulns(r.Context(), repo, metadata.Page{Last: r.URL.Query().Get("last"), N: n + 1})
	if errors.Is(err, metadata.ErrRepoNotFound) {
		return oci.Errorf(oci.CodeNameUnknown, "repository %s not found", repo)
	}
	if err != nil {
		return err
	}
	out := RepoVulnerabilities{Repository: repo, Tags: tags}
	if len(tags) > n {
		out.Tags = tags[:n]
		out.Next = nextURL(r.URL, n, tags[n-1].Tag)
	}
	return writeJSON(w, r, out)
}

// AffectedImages is the body of GET /api/v1/vulnerabilities/{id}.
type AffectedImages struct {
	ID     string                   `json:"id"`
	Images []metadata.AffectedImage `json:"images"`
	Next   string                   `json:"next,omitempty"`
}

func (s *Scans) affected(w http.ResponseWriter, r *http.Request, id string) error {
	n, err := s.api.pageSize(r.URL.Query())
	if err != nil {
		return err
	}
	imgs, err := s.read.Affected(r.Context(), id, metadata.Page{Last: r.URL.Query().Get("last"), N: n + 1})
	if err != nil {
		return err
	}
	out := AffectedImages{ID: id, Images: imgs}
	if len(imgs) > n {
		out.Images = imgs[:n]
		last := imgs[n-1]
		out.Next = nextURL(r.URL, n, last.Repo+"@"+last.Digest.String())
	}
	return writeJSON(w, r, out)
}
