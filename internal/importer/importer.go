// Package importer is the server side of POST /api/v1/import: the server
// pulls an image from another registry itself and pushes it into its own
// registry handler, in process, as the admin who asked. Locks, quotas,
// immutability, events and scan on push apply because it is a push,
// through the same handler. The source is reached only on addresses the
// webhook rule allows (import.allow_cidrs), checked before the import and
// at every connection, token realms and redirects included.
//
// The server gets it through server.WithImporter, from berth serve.
package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/server"
	"github.com/berth-registry/berth/internal/webhook"
)

// Importer implements api.ImportService.
type Importer struct {
	guard *webhook.Guard
	reg   http.Handler
	log   *slog.Logger
}

// New returns the importer into the registry handler reg, for the
// server's configuration; its signature is server.ImporterFunc.
func New(reg http.Handler, cfg config.Config, log *slog.Logger) (api.ImportService, error) {
	allow, err := cfg.Import.AllowPrefixes()
	if err != nil {
		return nil, fmt.Errorf("import.allow_cidrs: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Importer{guard: &webhook.Guard{Allow: allow, AllowKey: "import.allow_cidrs"}, reg: reg, log: log}, nil
}

// Import implements api.ImportService.
func (im *Importer) Import(ctx context.Context, req api.ImageImportRequest) (*api.ImageImportResult, error) {
	src, err := remote.ParseImageRef(req.Source)
	if err != nil {
		return nil, badImport("source: %v", err)
	}
	if src.Ref == "" {
		return nil, badImport("source %q: name a tag or a digest", req.Source)
	}
	repo, tag, err := parseTarget(req.Target)
	if err != nil {
		return nil, err
	}
	if tag == "" && !oci.IsDigest(src.Ref) {
		tag = src.Ref
	}
	if _, err := im.guard.CheckURL(ctx, src.Registry); err != nil {
		return nil, oci.Errorf(oci.CodeDenied, "import source refused: %v", err).WithStatus(http.StatusForbidden).Wrap(err)
	}
	hc := im.guard.Client(2 * time.Minute)
	// Registries send blob reads to storage elsewhere; every hop is dialed
	// through the guard, and the client drops the Authorization header on
	// a change of host.
	hc.CheckRedirect = func(_ *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		return nil
	}
	var cred remote.Credential
	if c := req.Credentials; c != nil {
		cred = remote.Credential{Username: c.Username, Password: c.Password, IdentityToken: c.IdentityToken}
	}
	sc, err := remote.New(src.Registry, remote.Options{HTTPClient: hc, Credential: cred, UserAgent: "berth-import"})
	if err != nil {
		return nil, badImport("source: %v", err)
	}
	// The local side is not retried: a refusal (quota, immutable tag) is
	// final and a 5xx here is a bug to see, not to hide.
	dc, err := remote.New(server.InProcessBase, remote.Options{HTTPClient: server.InProcessClient(im.reg), Retries: -1})
	if err != nil {
		return nil, err
	}
	cp := remote.NewCopier(sc, dc, remote.CopyOptions{Platforms: req.Platforms, Referrers: req.Referrers})
	start := time.Now()
	d, err := cp.Copy(ctx, src.Repo, src.Ref, repo, tag)
	st := cp.Stats()
	attrs := []any{slog.String("source", src.String()), slog.String("repository", repo), slog.String("tag", tag),
		slog.Int("manifests", st.Manifests), slog.Int("blobs", st.Blobs), slog.Int64("bytes", st.Bytes), slog.Duration("took", time.Since(start))}
	if err != nil {
		im.log.WarnContext(ctx, "import failed", append(attrs, slog.Any("err", err))...)
		return nil, importError(err)
	}
	im.log.InfoContext(ctx, "image imported", append(attrs, slog.String("digest", d.String()))...)
	return &api.ImageImportResult{Source: src.String(), Repository: repo, Tag: tag, Digest: d.String(), Stats: api.ImportStats(st),
		Scan: api.Prefix + "repositories/" + repo + "/manifests/" + d.String() + "/scan"}, nil
}

// parseTarget splits REPOSITORY[:TAG].
func parseTarget(s string) (repo, tag string, err error) {
	repo = s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		repo, tag = s[:i], s[i+1:]
		if !oci.ValidTag(tag) {
			return "", "", badImport("target %q: invalid tag %q", s, tag)
		}
	}
	if !oci.ValidName(repo) {
		return "", "", badImport("target %q: invalid repository name", s)
	}
	return repo, tag, nil
}

func badImport(format string, args ...any) *oci.Error {
	return oci.Errorf(oci.CodeUnsupported, format, args...).WithStatus(http.StatusBadRequest)
}

// importError keeps this registry's own refusals (a quota, an immutable
// tag, a missing right) as they would answer a push, and makes anything
// from the source a 502: the source, not this server, failed.
func importError(err error) error {
	var se *remote.StatusError
	if errors.As(err, &se) && strings.HasPrefix(se.URL, server.InProcessBase) {
		code := oci.CodeDenied
		msg := err.Error()
		if se.Errors != nil && len(se.Errors.Errors) > 0 {
			code, msg = se.Errors.Errors[0].Code, se.Errors.Errors[0].Message
		}
		return oci.Errorf(code, "import refused: %s", msg).WithStatus(se.Status).Wrap(err)
	}
	if errors.Is(err, webhook.ErrTarget) {
		return oci.Errorf(oci.CodeDenied, "import source refused: %v", err).WithStatus(http.StatusForbidden).Wrap(err)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return oci.Errorf(oci.CodeUnsupported, "import from the source failed: %v", err).WithStatus(http.StatusBadGateway).Wrap(err)
}
