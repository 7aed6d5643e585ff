package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/scan/vulndb"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

// scanning is the scanner with the database sources of scan.db, so that
// POST /api/v1/vulndb/reload re-imports what the configuration names.
type scanning struct {
	*scanner.Scanner
	sources []string
}

// openScanning loads scan.db (a source that fails to load fails Open: a
// registry that silently does not scan is worse than one that does not
// start), builds the scanner and subscribes it to manifest.pushed.
func (s *Server) openScanning(ctx context.Context, blobs *fsblob.Store, meta scanner.Store) (*scanning, error) {
	holder := &vulndb.Holder{}
	sources := s.cfg.Scan.DB.Items()
	if len(sources) > 0 {
		db, err := scanner.LoadDB(ctx, sources)
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
	if err := s.relay.Subscribe("scanner", sc.HandleEvent); err != nil {
		return nil, fmt.Errorf("subscribing the scanner: %w", err)
	}
	return sc, nil
}

// Reload re-imports scan.db.
func (sc *scanning) Reload(ctx context.Context) (scanner.ReloadResult, error) {
	return sc.Scanner.Reload(ctx, sc.sources)
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
