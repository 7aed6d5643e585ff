package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/scan/gate"
	"github.com/berth-registry/berth/internal/scan/match"
	"github.com/berth-registry/berth/internal/scan/report"
	"github.com/berth-registry/berth/internal/scan/scanner"
)

// maxConfigBytes bounds the image config read for the page.
const maxConfigBytes = 1 << 20

// maxAffectedLookups bounds the "other images" queries per page: one per
// finding shown, the first this many; a filter narrows to the rest. Each
// is a sample (AffectedSample); the vulnerability page lists them all.
const maxAffectedLookups = 200

// othersShown is how many other affected images a finding lists.
const othersShown = 10

type layerRow struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
}

type imageConfig struct {
	Platform   string
	Created    time.Time
	Author     string
	Entrypoint []string
	Cmd        []string
	WorkingDir string
	User       string
	Env        []string
	Labels     map[string]string
	History    int
}

type findingRow struct {
	match.Finding
	Others    []metadata.AffectedImage
	MoreOther bool
	Looked    bool // Others was looked up
}

type severityGroup struct {
	Severity string
	Total    int // in the scan
	Findings []findingRow
}

type findingFilter struct {
	Severity string
	Fixable  bool
	Package  string
	ID       string
}

func (f findingFilter) keep(x *match.Finding) bool {
	switch {
	case f.Severity != "" && string(x.Severity) != f.Severity:
		return false
	case f.Fixable && x.FixStatus != match.Fixed:
		return false
	case f.Package != "" && !strings.Contains(strings.ToLower(x.Package+" "+x.Source), strings.ToLower(f.Package)):
		return false
	case f.ID != "" && !strings.Contains(strings.ToUpper(x.ID), strings.ToUpper(f.ID)) &&
		!slices.ContainsFunc(x.Aliases, func(a string) bool { return strings.Contains(strings.ToUpper(a), strings.ToUpper(f.ID)) }):
		return false
	}
	return true
}

type imageData struct {
	Host      string
	Repo      string
	Digest    digest.Digest
	Manifest  *metadata.Manifest
	Tags      []string
	Index     bool
	Platforms []platformRow
	Config    *layerRow
	Layers    []layerRow
	Image     *imageConfig
	Referrers []metadata.Descriptor
	Scanning  bool
	Scan      *scanner.Report // nil: not scanned yet
	HasSBOM   bool
	Filter    findingFilter
	Groups    []severityGroup
	Shown     int
	Total     int
	Severity  []string
	// Gate is the pull gate's decision for this image; nil when no gate
	// covers the repository.
	Gate *gate.Decision
}

// gateDecider is what the page needs of the gate service: the decision a
// pull would get, without recording it. *gate.Gate has it.
type gateDecider interface {
	Decide(ctx context.Context, repo string, d digest.Digest) (gate.Decision, bool, error)
}

// image shows one manifest: layers and config, or an index's platforms;
// then its stored scan, filterable, each finding expandable.
func (u *UI) image(w http.ResponseWriter, r *http.Request, repo string, d digest.Digest) {
	ctx := r.Context()
	m, err := u.opts.Store.Manifest(ctx, repo, d)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	data := imageData{Host: r.Host, Repo: repo, Digest: d, Manifest: m, Scanning: u.opts.Scans != nil,
		Filter: findingFilter{Severity: strings.ToUpper(q.Get("severity")), Fixable: q.Get("fixable") != "",
			Package: trimParam(q.Get("package")), ID: trimParam(q.Get("id"))}}
	for _, s := range report.Severities {
		data.Severity = append(data.Severity, string(s))
	}
	if !slices.Contains(data.Severity, data.Filter.Severity) {
		data.Filter.Severity = ""
	}
	if ps, ok := indexPlatforms(m); ok {
		data.Index, data.Platforms = true, ps
	} else {
		var im struct {
			Config *layerRow  `json:"config"`
			Layers []layerRow `json:"layers"`
		}
		if err := json.Unmarshal(m.Content, &im); err == nil {
			data.Config, data.Layers = im.Config, im.Layers
		}
		data.Image = u.readConfig(r, data.Config)
	}
	if data.Tags, err = u.opts.Store.ManifestTags(ctx, repo, d); err != nil {
		u.fail(w, r, err)
		return
	}
	if data.Referrers, err = u.opts.Store.Referrers(ctx, repo, d, ""); err != nil {
		u.fail(w, r, err)
		return
	}
	if u.opts.Scans != nil {
		rep, err := u.opts.Scans.Report(ctx, repo, d)
		switch {
		case errors.Is(err, scanner.ErrNotScanned):
		case err != nil:
			u.fail(w, r, err)
			return
		default:
			data.Scan = rep
			data.HasSBOM = !data.Index && (rep.Status == metadata.ScanComplete || rep.Status == metadata.ScanPartial)
			if err := u.groupFindings(r, &data); err != nil {
				u.fail(w, r, err)
				return
			}
		}
	}
	if g, ok := u.opts.Manage.GateService.(gateDecider); ok {
		dec, gated, err := g.Decide(ctx, repo, d)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		if gated {
			data.Gate = &dec
		}
	}
	u.render(w, r, http.StatusOK, page{template: "image", nav: "repos", data: data})
}

// groupFindings filters the findings and groups them by severity, most
// severe first, looking up the other images each one affects.
func (u *UI) groupFindings(r *http.Request, data *imageData) error {
	v := viewerFrom(r.Context())
	data.Total = len(data.Scan.Findings)
	looked := 0
	for _, sev := range report.Severities {
		g := severityGroup{Severity: string(sev)}
		for i := range data.Scan.Findings {
			f := &data.Scan.Findings[i]
			if f.Severity != sev {
				continue
			}
			g.Total++
			if !data.Filter.keep(f) {
				continue
			}
			row := findingRow{Finding: *f}
			if looked < maxAffectedLookups {
				looked++
				row.Looked = true
				aff, err := u.opts.Store.AffectedSample(r.Context(), f.ID, v.patterns, 2*othersShown+2)
				if err != nil {
					return err
				}
				seen := map[string]bool{data.Repo + "@" + data.Digest.String(): true}
				for _, a := range aff {
					k := a.Repo + "@" + a.Digest.String()
					if seen[k] {
						continue
					}
					seen[k] = true
					if len(row.Others) == othersShown {
						row.MoreOther = true
						break
					}
					row.Others = append(row.Others, a)
				}
			}
			g.Findings = append(g.Findings, row)
			data.Shown++
		}
		if g.Total > 0 {
			data.Groups = append(data.Groups, g)
		}
	}
	return nil
}

// readConfig reads an image config for its platform and run settings;
// nil if the blob is missing or not a config.
func (u *UI) readConfig(r *http.Request, desc *layerRow) *imageConfig {
	if desc == nil || desc.Size > maxConfigBytes {
		return nil
	}
	b, err := u.opts.Blobs.Open(r.Context(), desc.Digest)
	if err != nil {
		return nil
	}
	defer b.Close()
	raw, err := io.ReadAll(io.LimitReader(b, maxConfigBytes))
	if err != nil {
		return nil
	}
	var c struct {
		platform
		Created time.Time `json:"created"`
		Author  string    `json:"author"`
		Config  struct {
			Entrypoint []string          `json:"Entrypoint"`
			Cmd        []string          `json:"Cmd"`
			WorkingDir string            `json:"WorkingDir"`
			User       string            `json:"User"`
			Env        []string          `json:"Env"`
			Labels     map[string]string `json:"Labels"`
		} `json:"config"`
		History []json.RawMessage `json:"history"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil
	}
	return &imageConfig{Platform: c.platform.String(), Created: c.Created, Author: c.Author,
		Entrypoint: c.Config.Entrypoint, Cmd: c.Config.Cmd, WorkingDir: c.Config.WorkingDir, User: c.Config.User,
		Env: c.Config.Env, Labels: c.Config.Labels, History: len(c.History)}
}

// imagePlatform is an image manifest's platform from its config, "" if
// the config cannot be read.
func (u *UI) imagePlatform(r *http.Request, m *metadata.Manifest) string {
	var im struct {
		Config *layerRow `json:"config"`
	}
	if json.Unmarshal(m.Content, &im) != nil || im.Config == nil || strings.Contains(im.Config.MediaType, "empty") {
		return ""
	}
	if c := u.readConfig(r, im.Config); c != nil && c.Platform != "unknown" {
		return c.Platform
	}
	return ""
}

// sbom downloads the stored inventory as SPDX or CycloneDX, with the
// scanner's own exporters.
func (u *UI) sbom(w http.ResponseWriter, r *http.Request, repo string, d digest.Digest) {
	if u.opts.Scans == nil {
		u.fail(w, r, errNotFound)
		return
	}
	f := report.Format(r.URL.Query().Get("format"))
	if f != report.SPDX && f != report.CycloneDX {
		u.renderError(w, r, http.StatusBadRequest, "Choose the SBOM format spdx or cyclonedx.")
		return
	}
	var buf bytes.Buffer
	if err := u.opts.Scans.WriteSBOM(r.Context(), &buf, repo, d, f); err != nil {
		if errors.Is(err, scanner.ErrNotScanned) {
			err = errNotFound
		}
		u.fail(w, r, err)
		return
	}
	name := strings.NewReplacer("/", "_", ":", "-").Replace(repo+"@"+d.Encoded()[:12]) + "." + string(f) + ".json"
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = buf.WriteTo(w)
}

func trimParam(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
