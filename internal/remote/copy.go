package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// CopyOptions tune a Copier. The zero value copies every platform, no
// referrers, four blobs at a time.
type CopyOptions struct {
	// Platforms picks entries of an index, as os/arch[/variant]; empty
	// copies them all. One platform is copied as its image manifest under
	// the tag; several as a new index of just those (a new digest).
	Platforms []string
	// Referrers copies what refers to each copied manifest (signatures,
	// SBOMs): from the referrers API, else from the sha256-<hex> fallback
	// tag and cosign's .sig/.att/.sbom tags.
	Referrers bool
	// Concurrency bounds blobs in flight; 0 means 4.
	Concurrency int
	// Progress gets one line per manifest and blob; nil is quiet.
	Progress io.Writer
}

// CopyStats counts what a Copier did.
type CopyStats struct {
	Manifests        int   `json:"manifests"`
	ManifestsSkipped int   `json:"manifestsSkipped"`
	Blobs            int   `json:"blobs"`
	BlobsMounted     int   `json:"blobsMounted"`
	BlobsSkipped     int   `json:"blobsSkipped"`
	Bytes            int64 `json:"bytes"`
}

// Copier copies images from one registry to another (or within one),
// keeping every manifest byte for byte so that digests are preserved.
// Blobs the destination has are skipped after a HEAD, so a copy that was
// interrupted is finished by running it again.
type Copier struct {
	src, dst *Client
	opts     CopyOptions
	sem      chan struct{}

	mu    sync.Mutex
	stats CopyStats
	blobs map[string]*once
	refs  map[digest.Digest]*once
}

// once is a piece of work shared by everyone who asks for it.
type once struct {
	done chan struct{}
	err  error
}

// maxCopyDepth bounds indexes in indexes and referrers of referrers.
const maxCopyDepth = 8

// NewCopier returns a copier from src to dst.
func NewCopier(src, dst *Client, opts CopyOptions) *Copier {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	return &Copier{src: src, dst: dst, opts: opts, sem: make(chan struct{}, opts.Concurrency),
		blobs: map[string]*once{}, refs: map[digest.Digest]*once{}}
}

// Stats returns the counts so far.
func (c *Copier) Stats() CopyStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Copy copies srcRepo:ref (a tag or a digest) to dstRepo, under dstTag if
// not empty, and returns the digest the destination now has.
func (c *Copier) Copy(ctx context.Context, srcRepo, ref, dstRepo, dstTag string) (digest.Digest, error) {
	desc, body, err := c.src.GetManifest(ctx, srcRepo, ref)
	if err != nil {
		return "", err
	}
	if len(c.opts.Platforms) > 0 && oci.IsIndex(manifestType(desc.MediaType, body)) {
		if desc, body, err = c.pickPlatforms(ctx, srcRepo, desc, body); err != nil {
			return "", fmt.Errorf("%s:%s: %w", srcRepo, ref, err)
		}
	}
	if err := c.manifest(ctx, srcRepo, dstRepo, desc, body, dstTag, 0); err != nil {
		return "", err
	}
	return desc.Digest, nil
}

// CopyRepository copies every tag of srcRepo to dstRepo. Referrer fallback
// tags are not tags to it: with Referrers they come along with their
// subjects.
func (c *Copier) CopyRepository(ctx context.Context, srcRepo, dstRepo string) (int, error) {
	tags, err := c.src.Tags(ctx, srcRepo, 1000)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, t := range tags {
		if _, isRef := ReferrerSubject(t); isRef {
			continue
		}
		if _, err := c.Copy(ctx, srcRepo, t, dstRepo, t); err != nil {
			errs = append(errs, fmt.Errorf("%s:%s: %w", srcRepo, t, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// manifest copies one manifest and what it needs below it, then puts it
// under tag (or its digest).
func (c *Copier) manifest(ctx context.Context, srcRepo, dstRepo string, desc Descriptor, body []byte, tag string, depth int) error {
	if depth > maxCopyDepth {
		return fmt.Errorf("manifest %s: nested deeper than %d", desc.Digest, maxCopyDepth)
	}
	var doc manifestDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	mt := manifestType(desc.MediaType, body)
	have, err := c.dst.HeadManifest(ctx, dstRepo, desc.Digest.String())
	switch {
	case err == nil && have.Digest == desc.Digest:
		c.count(func(s *CopyStats) { s.ManifestsSkipped++ })
		if tag != "" {
			if cur, err := c.dst.HeadManifest(ctx, dstRepo, tag); err != nil || cur.Digest != desc.Digest {
				if _, err := c.dst.PutManifest(ctx, dstRepo, tag, mt, body); err != nil {
					return err
				}
			}
		}
	case err != nil && !IsNotFound(err):
		return err
	default:
		if err := c.children(ctx, srcRepo, dstRepo, &doc, depth); err != nil {
			return err
		}
		ref := tag
		if ref == "" {
			ref = desc.Digest.String()
		}
		taken, err := c.dst.PutManifest(ctx, dstRepo, ref, mt, body)
		if err != nil {
			return err
		}
		if doc.Subject != nil && !taken {
			if err := c.dst.AddFallbackReferrer(ctx, dstRepo, doc.Subject.Digest, referrerOf(mt, desc, &doc)); err != nil {
				return fmt.Errorf("referrer %s: fallback tag: %w", desc.Digest, err)
			}
		}
		c.count(func(s *CopyStats) { s.Manifests++ })
		c.progress("manifest %s:%s %s", dstRepo, ref, desc.Digest)
	}
	if c.opts.Referrers {
		return c.referrers(ctx, srcRepo, dstRepo, desc.Digest, depth)
	}
	return nil
}

// children copies an index's manifests, or an image's config and layers,
// in parallel; the blob semaphore bounds the transfers.
func (c *Copier) children(ctx context.Context, srcRepo, dstRepo string, doc *manifestDoc, depth int) error {
	var wg sync.WaitGroup
	errs := make([]error, len(doc.Manifests)+len(doc.Layers)+1)
	for i, m := range doc.Manifests {
		wg.Go(func() {
			d, b, err := c.src.GetManifest(ctx, srcRepo, m.Digest.String())
			if err == nil && d.Digest != m.Digest {
				err = fmt.Errorf("manifest %s: registry answered %s", m.Digest, d.Digest)
			}
			if err == nil {
				d.MediaType = cmpOr(m.MediaType, d.MediaType)
				err = c.manifest(ctx, srcRepo, dstRepo, d, b, "", depth+1)
			}
			errs[i] = err
		})
	}
	blobs := slices.Clone(doc.Layers)
	if doc.Config != nil {
		blobs = append(blobs, *doc.Config)
	}
	for i, b := range blobs {
		wg.Go(func() { errs[len(doc.Manifests)+i] = c.blob(ctx, srcRepo, dstRepo, b.Digest, b.Size) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// blob copies one blob once per destination repository, however many
// manifests name it, skipping it when the destination has it.
func (c *Copier) blob(ctx context.Context, srcRepo, dstRepo string, d digest.Digest, size int64) error {
	key := dstRepo + "@" + d.String()
	c.mu.Lock()
	if o, ok := c.blobs[key]; ok {
		c.mu.Unlock()
		<-o.done
		return o.err
	}
	o := &once{done: make(chan struct{})}
	c.blobs[key] = o
	c.mu.Unlock()
	defer close(o.done)
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		o.err = ctx.Err()
		return o.err
	}
	defer func() { <-c.sem }()
	o.err = c.transfer(ctx, srcRepo, dstRepo, d, size)
	return o.err
}

func (c *Copier) transfer(ctx context.Context, srcRepo, dstRepo string, d digest.Digest, size int64) error {
	ok, err := c.dst.BlobExists(ctx, dstRepo, d)
	if err != nil {
		return err
	}
	if ok {
		c.count(func(s *CopyStats) { s.BlobsSkipped++ })
		c.progress("blob %s exists in %s", short(d), dstRepo)
		return nil
	}
	for attempt := 0; ; attempt++ {
		move, err := CopyBlob(ctx, c.src, srcRepo, c.dst, dstRepo, d, size)
		if err == nil {
			if move == BlobMounted {
				c.count(func(s *CopyStats) { s.BlobsMounted++ })
				c.progress("blob %s mounted from %s", short(d), srcRepo)
			} else {
				c.count(func(s *CopyStats) { s.Blobs++; s.Bytes += size })
				c.progress("blob %s copied (%d bytes)", short(d), size)
			}
			return nil
		}
		wait, retry := c.retryable(ctx, err, attempt)
		if !retry {
			return err
		}
		c.progress("blob %s: %v; retrying in %s", short(d), err, wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (then: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// retryable says whether a failed blob transfer is worth another attempt
// (429, 5xx, or the connection failing) and how long to wait first.
func (c *Copier) retryable(ctx context.Context, err error, attempt int) (time.Duration, bool) {
	o := c.dst.opts
	if ctx.Err() != nil || attempt >= o.Retries || errors.Is(err, errCorruptBlob) {
		return 0, false
	}
	wait := o.MinBackoff << min(attempt, 20)
	var se *StatusError
	if errors.As(err, &se) {
		if se.Status != http.StatusTooManyRequests && se.Status < 500 {
			return 0, false
		}
		if se.RetryAfter > 0 {
			wait = se.RetryAfter
		}
	}
	return min(wait, o.MaxBackoff), true
}

// referrers copies what refers to d, each subject once per run.
func (c *Copier) referrers(ctx context.Context, srcRepo, dstRepo string, d digest.Digest, depth int) error {
	c.mu.Lock()
	if o, ok := c.refs[d]; ok {
		c.mu.Unlock()
		<-o.done
		return o.err
	}
	o := &once{done: make(chan struct{})}
	c.refs[d] = o
	c.mu.Unlock()
	defer close(o.done)
	o.err = c.copyReferrers(ctx, srcRepo, dstRepo, d, depth)
	return o.err
}

func (c *Copier) copyReferrers(ctx context.Context, srcRepo, dstRepo string, d digest.Digest, depth int) error {
	refs, api, err := c.src.Referrers(ctx, srcRepo, d)
	if err != nil {
		return fmt.Errorf("referrers of %s: %w", d, err)
	}
	if !api {
		if refs, err = c.src.FallbackReferrers(ctx, srcRepo, d); err != nil {
			return fmt.Errorf("referrers of %s: %w", d, err)
		}
		// cosign keeps signatures, attestations and SBOMs under tags of
		// their own, without a subject field.
		for _, sfx := range []string{".sig", ".att", ".sbom"} {
			tag := FallbackTag(d) + sfx
			rd, body, err := c.src.GetManifest(ctx, srcRepo, tag)
			if IsNotFound(err) {
				continue
			}
			if err == nil {
				err = c.manifest(ctx, srcRepo, dstRepo, rd, body, tag, depth+1)
			}
			if err != nil {
				return fmt.Errorf("%s:%s: %w", srcRepo, tag, err)
			}
		}
	}
	for _, r := range refs {
		rd, body, err := c.src.GetManifest(ctx, srcRepo, r.Digest.String())
		if err == nil {
			rd.MediaType = cmpOr(r.MediaType, rd.MediaType)
			err = c.manifest(ctx, srcRepo, dstRepo, rd, body, "", depth+1)
		}
		if err != nil {
			return fmt.Errorf("referrer %s of %s: %w", r.Digest, d, err)
		}
	}
	return nil
}

// pickPlatforms narrows an index to the platforms asked for: one becomes
// that image manifest, several a new index listing only them.
func (c *Copier) pickPlatforms(ctx context.Context, repo string, desc Descriptor, body []byte) (Descriptor, []byte, error) {
	var raw map[string]json.RawMessage
	var doc manifestDoc
	if err := json.Unmarshal(body, &raw); err != nil {
		return desc, nil, err
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return desc, nil, err
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(raw["manifests"], &entries); err != nil {
		return desc, nil, fmt.Errorf("index manifests: %w", err)
	}
	var keep []int
	for i, m := range doc.Manifests {
		if m.Platform == nil {
			continue
		}
		var p struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
			Variant      string `json:"variant"`
		}
		if json.Unmarshal(*m.Platform, &p) != nil {
			continue
		}
		for _, want := range c.opts.Platforms {
			os, arch, _ := strings.Cut(want, "/")
			arch, variant, _ := strings.Cut(arch, "/")
			if p.OS == os && p.Architecture == arch && (variant == "" || variant == p.Variant) {
				keep = append(keep, i)
				break
			}
		}
	}
	switch len(keep) {
	case 0:
		return desc, nil, fmt.Errorf("no manifest in the index for %s", strings.Join(c.opts.Platforms, ", "))
	case len(doc.Manifests):
		return desc, body, nil
	case 1:
		m := doc.Manifests[keep[0]]
		d, b, err := c.src.GetManifest(ctx, repo, m.Digest.String())
		d.MediaType = cmpOr(m.MediaType, d.MediaType)
		return d, b, err
	}
	picked := make([]json.RawMessage, 0, len(keep))
	for _, i := range keep {
		picked = append(picked, entries[i])
	}
	raw["manifests"], _ = json.Marshal(picked)
	nb, err := json.Marshal(raw)
	if err != nil {
		return desc, nil, err
	}
	c.progress("index %s narrowed to %d of %d platforms: new digest %s", desc.Digest, len(keep), len(entries), digest.FromBytes(nb))
	return Descriptor{MediaType: desc.MediaType, Digest: digest.FromBytes(nb), Size: int64(len(nb))}, nb, nil
}

// referrerOf is the descriptor a fallback tag lists for a referrer: its
// artifactType (else its config's media type) and annotations.
func referrerOf(mt string, desc Descriptor, doc *manifestDoc) ReferrerDescriptor {
	at := doc.ArtifactType
	if at == "" && doc.Config != nil {
		at = doc.Config.MediaType
	}
	return ReferrerDescriptor{MediaType: mt, ArtifactType: at, Digest: desc.Digest, Size: desc.Size, Annotations: doc.Annotations}
}

// manifestType is the media type to put a manifest with: what the source
// said, else the body's own mediaType field.
func manifestType(header string, body []byte) string {
	if oci.IsManifest(header) {
		return header
	}
	var m struct {
		MediaType string `json:"mediaType"`
		Manifests []json.RawMessage
	}
	_ = json.Unmarshal(body, &m)
	switch {
	case m.MediaType != "":
		return m.MediaType
	case m.Manifests != nil:
		return oci.MediaTypeImageIndex
	}
	return oci.MediaTypeImageManifest
}

func (c *Copier) count(f func(*CopyStats)) {
	c.mu.Lock()
	f(&c.stats)
	c.mu.Unlock()
}

func (c *Copier) progress(format string, args ...any) {
	if c.opts.Progress == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.opts.Progress, format+"\n", args...)
}

func short(d digest.Digest) string {
	if s := d.String(); len(s) > 19 {
		return s[:19]
	}
	return d.String()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
