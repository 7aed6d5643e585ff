package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// tagsPerPage bounds the Repository page; "next" continues after the
// last tag shown, newest first.
const tagsPerPage = 100

type tagRow struct {
	metadata.TagInfo
	Index     bool
	Platforms []platformRow
	Platform  string
	Badge     *metadata.ScanBadge
	Referrers []metadata.Descriptor
	Lock      *metadata.Lock
	Pull      string
}

type platformRow struct {
	Platform string
	Digest   digest.Digest
	Size     int64
	Badge    *metadata.ScanBadge
}

type repoData struct {
	Name     string
	Tags     []tagRow
	RepoLock *metadata.Lock
	Locks    []metadata.Lock
	Pull     string
	Next     string
	After    string
}

// repoOrImage serves /ui/repositories/<name> and, below it,
// /ui/repositories/<name>/-/images/<digest>[/sbom].
func (u *UI) repoOrImage(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("path")
	name, rest, isImage := strings.Cut(p, "/-/images/")
	if !viewerFrom(r.Context()).CanPull(name) {
		u.fail(w, r, errNotFound)
		return
	}
	if !isImage {
		u.repo(w, r, name)
		return
	}
	ref, sbom := strings.CutSuffix(rest, "/sbom")
	d, err := digest.Parse(ref)
	if err != nil {
		u.fail(w, r, errNotFound)
		return
	}
	if sbom {
		u.sbom(w, r, name, d)
		return
	}
	u.image(w, r, name, d)
}

// repo shows one page of a repository's tags, newest first, each with
// its platforms, scan badge, referrers and lock.
func (u *UI) repo(w http.ResponseWriter, r *http.Request, name string) {
	ctx := r.Context()
	after := r.URL.Query().Get("after")
	tags, err := u.opts.Store.TagDetails(ctx, name, metadata.OrderTimeDesc, metadata.Page{Last: after, N: tagsPerPage})
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d := repoData{Name: name, After: after}
	locks, err := u.opts.Store.ListLocks(ctx, name)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	byTag, byDigest := map[string]*metadata.Lock{}, map[digest.Digest]*metadata.Lock{}
	for i := range locks {
		l := &locks[i]
		switch {
		case l.Tag == "" && l.Digest == "":
			d.RepoLock = l
		case l.Tag != "":
			byTag[l.Tag] = l
		default:
			byDigest[l.Digest] = l
		}
		if l.Tag != "" || l.Digest != "" {
			d.Locks = append(d.Locks, *l)
		}
	}
	host := r.Host
	var digests []digest.Digest
	for _, t := range tags {
		row := tagRow{TagInfo: t, Pull: host + "/" + name + ":" + t.Name, Lock: byTag[t.Name]}
		if row.Lock == nil {
			row.Lock = byDigest[t.Digest]
		}
		m, err := u.opts.Store.Manifest(ctx, name, t.Digest)
		if err != nil && !errors.Is(err, metadata.ErrNotFound) {
			u.fail(w, r, err)
			return
		}
		if m != nil {
			if ps, ok := indexPlatforms(m); ok {
				row.Index, row.Platforms = true, ps
				for _, p := range ps {
					digests = append(digests, p.Digest)
				}
			} else {
				row.Platform = u.imagePlatform(r, m)
			}
		}
		if row.Referrers, err = u.opts.Store.Referrers(ctx, name, t.Digest, ""); err != nil {
			u.fail(w, r, err)
			return
		}
		digests = append(digests, t.Digest)
		d.Tags = append(d.Tags, row)
	}
	if len(tags) > 0 {
		d.Pull = d.Tags[0].Pull
	}
	if err := u.badges(r, d.Tags, digests); err != nil {
		u.fail(w, r, err)
		return
	}
	if len(tags) == tagsPerPage {
		d.Next = repoURL(name) + "?after=" + url.QueryEscape(tags[len(tags)-1].Name)
	}
	u.render(w, r, http.StatusOK, page{template: "repo", nav: "repos", data: d})
}

// badges fills in scan badges with one query for the page.
func (u *UI) badges(r *http.Request, rows []tagRow, ds []digest.Digest) error {
	if u.opts.Scans == nil || len(ds) == 0 {
		return nil
	}
	bs, err := u.opts.Store.ScanBadges(r.Context(), ds)
	if err != nil {
		return err
	}
	get := func(d digest.Digest) *metadata.ScanBadge {
		if b, ok := bs[d]; ok {
			return &b
		}
		return &metadata.ScanBadge{Status: metadata.NotScanned}
	}
	for i := range rows {
		rows[i].Badge = get(rows[i].Digest)
		for j := range rows[i].Platforms {
			rows[i].Platforms[j].Badge = get(rows[i].Platforms[j].Digest)
		}
	}
	return nil
}

// indexPlatforms reads the platforms of an index's manifests; ok is false
// for anything but an index.
func indexPlatforms(m *metadata.Manifest) ([]platformRow, bool) {
	if len(m.Children) == 0 && !strings.Contains(m.MediaType, "index") && !strings.Contains(m.MediaType, "manifest.list") {
		return nil, false
	}
	var idx struct {
		Manifests []struct {
			Digest   digest.Digest `json:"digest"`
			Size     int64         `json:"size"`
			Platform *platform     `json:"platform"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(m.Content, &idx); err != nil {
		return nil, true
	}
	out := make([]platformRow, 0, len(idx.Manifests))
	for _, c := range idx.Manifests {
		out = append(out, platformRow{Platform: c.Platform.String(), Digest: c.Digest, Size: c.Size})
	}
	return out, true
}

// platform is an OCI platform, in an index or an image config.
type platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant"`
}

func (p *platform) String() string {
	if p == nil || p.OS == "" {
		return "unknown"
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}
