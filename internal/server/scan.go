package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/metadata"
	scanreport "github.com/berth-registry/berth/internal/scan/report"
	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/scan/vulndb"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

// scanning is the scanner with its database sources: scan.db and the zips
// imported through POST /api/v1/vulndb/import (kept in <data_dir>/vulndb),
// so that POST /api/v1/vulndb/reload re-imports them all.
type scanning struct {
	*scanner.Scanner
	sources *scanner.Sources
}

// maxVulnDBImport bounds an uploaded zip: osv.dev's all.zip of every
// ecosystem is about 1 GiB.
const maxVulnDBImport = 8 << 30

// openScanning loads scan.db (a source that fails to load fails Open: a
// registry that silently does not scan is worse than one that does not
// start), builds the scanner and subscribes it to manifest.pushed.
func (s *Server) openScanning(ctx context.Context, blobs *fsblob.Store, meta scanner.Store) (*scanning, error) {
	holder := &vulndb.Holder{}
	sources, err := scanner.NewSources(s.cfg.Scan.DB.Items(), filepath.Join(s.cfg.DataDir, "vulndb"))
	if err != nil {
		return nil, fmt.Errorf("scan.db: %w", err)
	}
	sources.SetFetch(s.fetchVulnDB)
	paths, err := sources.Paths(ctx)
	if err != nil {
		return nil, fmt.Errorf("scan.db: %w", err)
	}
	if len(paths) > 0 {
		db, err := scanner.LoadDB(ctx, paths)
		if err != nil {
			return nil, fmt.Errorf("scan.db: %w", err)
		}
		holder.Store(db)
		s.log.Info("vulnerability database loaded", slog.String("version", db.Version()), slog.Int("advisories", db.Len()))
	}
	sc := &scanning{
		Scanner: scanner.New(meta, blobs, holder, scanner.Options{Workers: s.cfg.Scan.Workers, Logger: s.log}),
		sources: sources,
	}
	handle := sc.HandleEvent
	if !s.cfg.Scan.OnPush {
		// Still subscribed, so that the cursor moves on: turning scan.on_push
		// back on does not scan the backlog of pushes made meanwhile.
		handle = func(context.Context, metadata.Event) error { return nil }
	}
	if err := s.relay.Subscribe("scanner", handle); err != nil {
		return nil, fmt.Errorf("subscribing the scanner: %w", err)
	}
	if kind := s.cfg.Scan.AttachSBOM; kind != "" {
		f, err := scanreport.ParseFormat(kind)
		if err != nil {
			return nil, fmt.Errorf("scan.attach_sbom: %w", err)
		}
		// The registry is built after the scanner; events flow only once
		// the server runs.
		a := &sbomAttacher{scans: sc, reg: func() http.Handler { return s.registry }, meta: meta, format: f, kind: kind, log: s.log}
		if err := s.relay.Subscribe("sbom", a.HandleEvent); err != nil {
			return nil, fmt.Errorf("subscribing the SBOM attacher: %w", err)
		}
	}
	return sc, nil
}

// Reload re-imports scan.db and the imported zips.
func (sc *scanning) Reload(ctx context.Context) (scanner.ReloadResult, error) {
	paths, err := sc.sources.Paths(ctx)
	if err != nil {
		return scanner.ReloadResult{}, err
	}
	return sc.Scanner.Reload(ctx, paths)
}

// Import adds (or replaces) the zip called name and reloads; a zip that
// does not load is removed again and the database stays as it was.
func (sc *scanning) Import(ctx context.Context, name string, r io.Reader) (scanner.ReloadResult, error) {
	var res scanner.ReloadResult
	err := sc.sources.Import(ctx, name, r, maxVulnDBImport, func(ctx context.Context) error {
		var err error
		res, err = sc.Reload(ctx)
		return err
	})
	return res, err
}

// fetchVulnDB pulls a scan.db entry oci://REF into <data_dir>/vulndb/oci,
// a directory per reference; a layer already there is not fetched again.
// When the registry cannot be reached, the last pulled copy is used, so a
// mirror that is down does not stop the server or empty its database.
func (s *Server) fetchVulnDB(ctx context.Context, src string) ([]string, error) {
	sum := sha256.Sum256([]byte(src))
	dir := filepath.Join(s.cfg.DataDir, "vulndb", "oci", hex.EncodeToString(sum[:8]))
	files, d, err := scanner.Fetch(ctx, src, dir)
	if err == nil {
		s.log.Info("vulnerability database artifact pulled", slog.String("ref", src), slog.String("digest", d))
		return files, nil
	}
	cached, _ := filepath.Glob(filepath.Join(dir, "*"))
	cached = slices.DeleteFunc(cached, func(p string) bool { return strings.HasSuffix(p, ".digest") })
	if len(cached) == 0 {
		return nil, err
	}
	s.log.Warn("vulnerability database artifact not pulled; using the copy pulled before", slog.String("ref", src), slog.Any("err", err))
	return cached, nil
}

// ImportFrom imports a directory or zip on the server's side under its
// base name (a directory is packed into a zip first), or the layers of an
// artifact (oci://REF) under their titles.
func (sc *scanning) ImportFrom(ctx context.Context, source string) (scanner.ReloadResult, error) {
	if strings.HasPrefix(source, "oci://") {
		tmp, err := os.MkdirTemp(sc.sources.Dir(), ".pull-")
		if err != nil {
			return scanner.ReloadResult{}, err
		}
		defer os.RemoveAll(tmp)
		files, _, err := scanner.Fetch(ctx, source, tmp)
		if err != nil {
			return scanner.ReloadResult{}, fmt.Errorf("pulling %s: %w", source, err)
		}
		// Every layer in place, then one reload: the artifact goes in whole
		// or not at all.
		var ups []scanner.Upload
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return scanner.ReloadResult{}, err
			}
			defer fh.Close()
			ups = append(ups, scanner.Upload{Name: filepath.Base(f), Body: fh})
		}
		var res scanner.ReloadResult
		err = sc.sources.ImportAll(ctx, ups, maxVulnDBImport, func(ctx context.Context) error {
			var err error
			res, err = sc.Reload(ctx)
			return err
		})
		return res, err
	}
	fi, err := os.Stat(source)
	if err != nil {
		return scanner.ReloadResult{}, fmt.Errorf("importing %s: %w", source, err)
	}
	name := filepath.Base(source)
	if fi.IsDir() {
		name += ".zip"
	}
	pr, pw := io.Pipe()
	go func() {
		if fi.IsDir() {
			_, err := vulndb.PackZip(ctx, pw, []string{source}, vulndb.Limits{})
			pw.CloseWithError(err)
			return
		}
		f, err := os.Open(source)
		if err == nil {
			_, err = io.Copy(pw, f)
			f.Close()
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	return sc.Import(ctx, name, pr)
}

// wrap routes the scanning endpoints ahead of next.
func (sc *scanning) wrap(mgmt *api.API, next http.Handler) http.Handler {
	return api.WithScans(next, api.NewScans(sc.Scanner, sc, mgmt))
}

// start runs the workers; the returned func stops them and waits.
func (sc *scanning) start(ctx context.Context) (stop func()) {
	sc.Start(ctx)
	return sc.Stop
}
