package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
)

// Where tag times come from, as the output says.
const (
	TimesBerth  = "berth /api/v1 (push time)"
	TimesACR    = "acr /acr/v1 _tags (lastUpdateTime)"
	TimesConfig = "image config created"
)

// DeleteMode is how a registry deletes a tag.
type DeleteMode string

const (
	// DeleteUntag removes a tag alone (DELETE /v2/<name>/manifests/<tag>).
	DeleteUntag DeleteMode = "untag"
	// DeleteDigest removes a tag by deleting its manifest by digest, which
	// removes every other tag of that manifest too.
	DeleteDigest DeleteMode = "digest"
)

// tagListPage is the page size asked of /v2/<name>/tags/list.
const tagListPage = 1000

// RegistrySource is any OCI registry seen by the retention engine. The OCI
// API has no push time and no list of untagged manifests, so tag times come
// from the image config's created field (one manifest and one config fetch
// per tag, configs cached by digest) and only manifests reachable from a tag
// are listed. Referrers stored as fallback tags (sha256-<hex>, cosign's
// .sig/.att/.sbom) are not tags to the engine but referrers of their
// subject, kept and deleted with it.
type RegistrySource struct {
	c    *Client
	mode DeleteMode
	// acr reads tag times from ACR's metadata API instead.
	acr bool
	// Concurrency bounds manifest and config fetches per repository.
	conc int

	mu      sync.Mutex
	repos   map[string]*repoState
	configs map[digest.Digest]time.Time

	unusable atomic.Int64
}

// repoState is what listing a repository learnt, kept for the re-checks.
type repoState struct {
	tags      []retention.Tag
	manifests []retention.Manifest
	times     map[digest.Digest]time.Time
	tagsOf    map[digest.Digest][]string // real tags only
}

var (
	_ retention.Source  = (*RegistrySource)(nil)
	_ retention.Deleter = (*RegistrySource)(nil)
	_ retention.Checker = (*RegistrySource)(nil)
)

// NewRegistrySource returns a source over c that deletes tags as mode says.
// concurrency bounds metadata fetches; 0 means 8.
func NewRegistrySource(c *Client, mode DeleteMode, concurrency int) *RegistrySource {
	if concurrency <= 0 {
		concurrency = 8
	}
	return &RegistrySource{c: c, mode: mode, conc: concurrency, repos: map[string]*repoState{}, configs: map[digest.Digest]time.Time{}}
}

// UseACRMetadata makes the source read tags, digests, times and delete
// locks from Azure Container Registry's /acr/v1/{repo}/_tags.
func (s *RegistrySource) UseACRMetadata() { s.acr = true }

// TimeSource says where tag times come from.
func (s *RegistrySource) TimeSource() string {
	if s.acr {
		return TimesACR
	}
	return TimesConfig
}

// Mode is how the source deletes tags.
func (s *RegistrySource) Mode() DeleteMode { return s.mode }

// Unusable counts tags whose time could not order them (see UsableTime).
func (s *RegistrySource) Unusable() int { return int(s.unusable.Load()) }

// Repositories lists /v2/_catalog.
func (s *RegistrySource) Repositories(ctx context.Context) ([]string, error) {
	var names []string
	err := s.c.Catalog(ctx, tagListPage, func(page []string) error {
		names = append(names, page...)
		return nil
	})
	return names, err
}

// Tags lists repo's tags and reads each one's manifest and time.
func (s *RegistrySource) Tags(ctx context.Context, repo string) ([]retention.Tag, error) {
	st, err := s.load(ctx, repo)
	if err != nil {
		return nil, err
	}
	return slices.Clone(st.tags), nil
}

// Manifests returns the manifests the tags reach: tagged ones, their
// children and the referrers found under fallback tags.
func (s *RegistrySource) Manifests(ctx context.Context, repo string) ([]retention.Manifest, error) {
	st, err := s.load(ctx, repo)
	if err != nil {
		return nil, err
	}
	return slices.Clone(st.manifests), nil
}

func (s *RegistrySource) state(repo string) *repoState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repos[repo]
}

// load lists repo once per source; Tags and Manifests share it.
func (s *RegistrySource) load(ctx context.Context, repo string) (*repoState, error) {
	if st := s.state(repo); st != nil {
		return st, nil
	}
	var (
		names []string
		meta  map[string]ACRTag
		err   error
	)
	if s.acr {
		meta = map[string]ACRTag{}
		err = s.c.ACRTags(ctx, repo, func(page []ACRTag) error {
			for _, t := range page {
				names = append(names, t.Name)
				meta[t.Name] = t
			}
			return nil
		})
	} else {
		names, err = s.c.Tags(ctx, repo, tagListPage)
	}
	if err != nil {
		return nil, notFound(err)
	}
	type read struct {
		tag  string
		desc Descriptor
		doc  manifestDoc
		time time.Time
		err  error
	}
	reads := make([]read, len(names))
	s.forEach(ctx, len(names), func(i int) {
		r := &reads[i]
		r.tag = names[i]
		ref := names[i]
		if m, ok := meta[ref]; ok && m.Digest != "" {
			ref = m.Digest.String()
		}
		r.desc, r.doc, r.err = s.manifest(ctx, repo, ref)
		if m, ok := meta[names[i]]; ok {
			r.time = m.LastUpdateTime.UTC()
		} else if r.err == nil {
			_, isRef := ReferrerSubject(names[i])
			if !isRef {
				r.time, r.err = s.created(ctx, repo, r.doc)
			}
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st := &repoState{times: map[digest.Digest]time.Time{}, tagsOf: map[digest.Digest][]string{}}
	byDigest := map[digest.Digest]int{}
	add := func(m retention.Manifest) int {
		if i, ok := byDigest[m.Digest]; ok {
			return i
		}
		byDigest[m.Digest] = len(st.manifests)
		st.manifests = append(st.manifests, m)
		return len(st.manifests) - 1
	}
	var refs []read
	for _, r := range reads {
		if errors.Is(r.err, retention.ErrNotFound) {
			continue // deleted while listing
		}
		if r.err != nil {
			return nil, fmt.Errorf("reading %s:%s: %w", repo, r.tag, r.err)
		}
		if _, isRef := ReferrerSubject(r.tag); isRef {
			refs = append(refs, r)
			continue
		}
		if !UsableTime(r.time) {
			s.unusable.Add(1)
		}
		st.tags = append(st.tags, retention.Tag{Name: r.tag, Digest: r.desc.Digest, PushedAt: r.time, Locked: meta[r.tag].locked()})
		st.tagsOf[r.desc.Digest] = append(st.tagsOf[r.desc.Digest], r.tag)
		if t, ok := st.times[r.desc.Digest]; !ok || r.time.After(t) {
			st.times[r.desc.Digest] = r.time
		}
		add(manifestFromDoc(r.desc, r.doc, r.time))
		for _, ch := range r.doc.Manifests {
			add(retention.Manifest{Digest: ch.Digest, MediaType: ch.MediaType, Size: ch.Size, PushedAt: r.time})
		}
	}
	for _, r := range refs {
		subj, _ := ReferrerSubject(r.tag)
		m := manifestFromDoc(r.desc, r.doc, st.times[subj])
		if m.Subject == "" {
			m.Subject = subj
		}
		add(m)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := s.repos[repo]; prev != nil {
		return prev, nil
	}
	s.repos[repo] = st
	return st, nil
}

func manifestFromDoc(d Descriptor, doc manifestDoc, t time.Time) retention.Manifest {
	m := retention.Manifest{Digest: d.Digest, MediaType: d.MediaType, ArtifactType: doc.ArtifactType, Size: d.Size, PushedAt: t}
	if doc.Subject != nil {
		m.Subject = doc.Subject.Digest
	}
	for _, ch := range doc.Manifests {
		m.Children = append(m.Children, ch.Digest)
	}
	if doc.Config != nil {
		m.Blobs = append(m.Blobs, retention.Blob{Digest: doc.Config.Digest, Size: doc.Config.Size})
		if m.ArtifactType == "" && doc.Config.MediaType != "application/vnd.oci.image.config.v1+json" && doc.Config.MediaType != "application/vnd.docker.container.image.v1+json" {
			m.ArtifactType = doc.Config.MediaType
		}
	}
	for _, l := range doc.Layers {
		m.Blobs = append(m.Blobs, retention.Blob{Digest: l.Digest, Size: l.Size})
	}
	return m
}

// manifest GETs ref and decodes what the plan needs.
func (s *RegistrySource) manifest(ctx context.Context, repo, ref string) (Descriptor, manifestDoc, error) {
	d, body, err := s.c.GetManifest(ctx, repo, ref)
	if err != nil {
		return Descriptor{}, manifestDoc{}, notFound(err)
	}
	var doc manifestDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return Descriptor{}, manifestDoc{}, fmt.Errorf("decoding manifest %s:%s: %w", repo, ref, err)
	}
	if d.MediaType == "" || d.MediaType == "application/octet-stream" {
		d.MediaType = doc.MediaType
	}
	return d, doc, nil
}

// created is when the image was built: the created annotation if the
// manifest has one, else the config's created field; an index uses its
// first image's.
func (s *RegistrySource) created(ctx context.Context, repo string, doc manifestDoc) (time.Time, error) {
	if v := doc.Annotations[annotationCreated]; v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t.UTC(), nil
		}
	}
	if len(doc.Manifests) > 0 {
		for _, ch := range doc.Manifests {
			if ch.Annotations["vnd.docker.reference.type"] != "" {
				continue // buildkit's attestation manifests
			}
			_, cd, err := s.manifest(ctx, repo, ch.Digest.String())
			if err != nil {
				return time.Time{}, err
			}
			return s.created(ctx, repo, cd)
		}
		return time.Time{}, nil
	}
	if doc.Config == nil || doc.Config.Digest.Validate() != nil {
		return time.Time{}, nil
	}
	s.mu.Lock()
	t, ok := s.configs[doc.Config.Digest]
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	body, err := s.c.GetBlob(ctx, repo, doc.Config.Digest)
	if err != nil {
		return time.Time{}, notFound(err)
	}
	t = configCreated(body)
	s.mu.Lock()
	s.configs[doc.Config.Digest] = t
	s.mu.Unlock()
	return t, nil
}

// forEach runs fn over 0..n-1 with the source's concurrency until ctx ends.
func (s *RegistrySource) forEach(ctx context.Context, n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(s.conc, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// Tag resolves the tag now (one HEAD); its time is the one listed for its
// digest, or read again if the tag moved.
func (s *RegistrySource) Tag(ctx context.Context, repo, name string) (retention.Tag, error) {
	d, err := s.c.HeadManifest(ctx, repo, name)
	if err != nil {
		return retention.Tag{}, notFound(err)
	}
	if st := s.state(repo); st != nil {
		if t, ok := st.times[d.Digest]; ok {
			return retention.Tag{Name: name, Digest: d.Digest, PushedAt: t}, nil
		}
	}
	_, doc, err := s.manifest(ctx, repo, d.Digest.String())
	if err != nil {
		return retention.Tag{}, err
	}
	t, err := s.created(ctx, repo, doc)
	if err != nil {
		return retention.Tag{}, err
	}
	return retention.Tag{Name: name, Digest: d.Digest, PushedAt: t}, nil
}

// ManifestTags returns the listed tags of d that still point at it (one
// HEAD for d and one per such tag). A tag pushed onto d since the listing
// is not seen: the OCI API cannot list tags by digest.
func (s *RegistrySource) ManifestTags(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	if _, err := s.c.HeadManifest(ctx, repo, d.String()); err != nil {
		return nil, notFound(err)
	}
	st := s.state(repo)
	if st == nil {
		return nil, nil
	}
	var out []string
	for _, t := range st.tagsOf[d] {
		cur, err := s.c.HeadManifest(ctx, repo, t)
		if IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if cur.Digest == d {
			out = append(out, t)
		}
	}
	return out, nil
}

// DeleteTag untags, or in DeleteDigest mode deletes the manifest the tag
// points at now, with every tag it has.
func (s *RegistrySource) DeleteTag(ctx context.Context, repo, tag string) error {
	if s.mode == DeleteUntag && s.acr {
		return notFound(s.c.ACRUntag(ctx, repo, tag))
	}
	if s.mode == DeleteUntag {
		return notFound(s.c.DeleteTag(ctx, repo, tag))
	}
	d, err := s.c.HeadManifest(ctx, repo, tag)
	if err != nil {
		return notFound(err)
	}
	return notFound(s.c.DeleteManifest(ctx, repo, d.Digest))
}

// DeleteManifest deletes by digest.
func (s *RegistrySource) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	return notFound(s.c.DeleteManifest(ctx, repo, d))
}

// ProbeDeleteMode finds out whether the registry can delete a tag alone:
// DELETE of a tag that does not exist answers 404 where tags can be
// deleted, and 400 or 405 (distribution 2.8: DIGEST_INVALID) where only
// digests can. Anything else, 401 and 403 included, means digest mode,
// the conservative reading.
func ProbeDeleteMode(ctx context.Context, c *Client, repo string) (DeleteMode, error) {
	probe := fmt.Sprintf("berth-probe-%d", time.Now().UnixNano())
	p, err := manifestPath(repo, probe)
	if err != nil {
		return "", err
	}
	_, err = c.do(ctx, http.MethodDelete, p, nil)
	var se *StatusError
	switch {
	case err == nil, errors.As(err, &se) && se.Status == http.StatusNotFound:
		return DeleteUntag, nil
	case ctx.Err() != nil:
		return "", err
	}
	// Refused, unauthorised or unreachable for deletes: a dry run can
	// still plan, and a real run must not assume it can untag.
	return DeleteDigest, nil
}

// SetMode sets how tags are deleted, once it has been probed.
func (s *RegistrySource) SetMode(m DeleteMode) { s.mode = m }

// IsBerth reports whether the registry serves Berth's /api/v1. Any answer
// other than a JSON repository listing means no; only a failure to ask is
// an error.
func (c *Client) IsBerth(ctx context.Context) (bool, error) {
	resp, err := c.do(ctx, http.MethodGet, "/api/v1/repositories?n=1", jsonHeader())
	var se *StatusError
	if errors.As(err, &se) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var page struct {
		Repositories *json.RawMessage `json:"repositories"`
	}
	return json.Unmarshal(resp.body, &page) == nil && page.Repositories != nil, nil
}
