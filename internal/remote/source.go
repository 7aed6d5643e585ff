package remote

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/oci"
)

// Source is a Berth server seen by the retention engine: listings and times
// come from /api/v1, deletions go through the OCI API, so the server's own
// checks, locks included, apply to every deletion. Locks and immutability
// rules are read once per repository to mark items Locked in the plan.
type Source struct {
	c     *Client
	opts  SourceOptions
	locks lockCache
}

var (
	_ retention.Source  = (*Source)(nil)
	_ retention.Deleter = (*Source)(nil)
	_ retention.Checker = (*Source)(nil)
)

// NewSource returns a retention source over the Berth server c talks to.
func NewSource(c *Client) *Source { return &Source{c: c} }

// Repositories returns every repository name.
func (s *Source) Repositories(ctx context.Context) ([]string, error) {
	repos, err := s.c.Repositories(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(repos))
	for i, r := range repos {
		names[i] = r.Name
	}
	return names, nil
}

// Tags returns the tags of repo; a tag's push time is when it was last moved.
func (s *Source) Tags(ctx context.Context, repo string) ([]retention.Tag, error) {
	var out []retention.Tag
	err := s.c.TagDetails(ctx, repo, "", 0, func(page []TagInfo) bool {
		for _, t := range page {
			out = append(out, tagOf(t))
		}
		return true
	})
	if err != nil {
		return nil, notFound(err)
	}
	if err := s.markTags(ctx, repo, out); err != nil {
		return nil, err
	}
	return out, nil
}

func tagOf(t TagInfo) retention.Tag {
	rt := retention.Tag{Name: t.Name, Digest: t.Digest, PushedAt: t.Updated}
	if t.LastPulled != nil {
		rt.LastPulledAt = *t.LastPulled
	}
	return rt
}

// Manifests returns every manifest of repo, tagged or not.
func (s *Source) Manifests(ctx context.Context, repo string) ([]retention.Manifest, error) {
	var out []retention.Manifest
	err := s.c.Manifests(ctx, repo, "", 0, func(page []ManifestInfo) bool {
		for _, m := range page {
			out = append(out, manifestOf(m))
		}
		return true
	})
	if err != nil {
		return nil, notFound(err)
	}
	if err := s.markManifests(ctx, repo, out); err != nil {
		return nil, err
	}
	return out, nil
}

func manifestOf(m ManifestInfo) retention.Manifest {
	rm := retention.Manifest{
		Digest: m.Digest, MediaType: m.MediaType, ArtifactType: m.ArtifactType, Size: m.Size,
		PushedAt: m.Pushed, Subject: m.Subject, Children: m.Children,
	}
	if m.LastPulled != nil {
		rm.LastPulledAt = *m.LastPulled
	}
	for _, b := range m.Blobs {
		rm.Blobs = append(rm.Blobs, retention.Blob{Digest: b.Digest, Size: b.Size})
	}
	return rm
}

// DeleteTag removes the tag only, through the OCI API.
func (s *Source) DeleteTag(ctx context.Context, repo, tag string) error {
	if err := s.unlockForDelete(ctx, repo, tag, ""); err != nil {
		return err
	}
	return notFound(s.c.DeleteTag(ctx, repo, tag))
}

// DeleteManifest removes the manifest through the OCI API. Berth removes
// the manifest's tags with it; Apply's re-check just before narrows, but
// does not close, the window in which a new tag could go too.
func (s *Source) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	if err := s.unlockForDelete(ctx, repo, "", d); err != nil {
		return err
	}
	return notFound(s.c.DeleteManifest(ctx, repo, d))
}

// Tag reads one tag as it is now, in one request: the name-ordered listing
// starting just before it.
func (s *Source) Tag(ctx context.Context, repo, name string) (retention.Tag, error) {
	if !oci.ValidTag(name) {
		return retention.Tag{}, fmt.Errorf("tag %q: %w", name, retention.ErrNotFound)
	}
	var (
		found retention.Tag
		ok    bool
	)
	err := s.c.TagDetails(ctx, repo, tagPredecessor(name), 1, func(page []TagInfo) bool {
		if len(page) > 0 && page[0].Name == name {
			found, ok = tagOf(page[0]), true
		}
		return false
	})
	if err != nil {
		return retention.Tag{}, notFound(err)
	}
	if !ok {
		return retention.Tag{}, fmt.Errorf("tag %s:%s: %w", repo, name, retention.ErrNotFound)
	}
	return found, nil
}

// ManifestTags returns the tags pointing at d now, in one request for the
// usual hex digests.
func (s *Source) ManifestTags(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	after, exact := digestPredecessor(d)
	var (
		tags []string
		ok   bool
	)
	err := s.c.Manifests(ctx, repo, after, 0, func(page []ManifestInfo) bool {
		for _, m := range page {
			if m.Digest == d {
				tags, ok = m.Tags, true
				return false
			}
			if exact || strings.Compare(string(m.Digest), string(d)) > 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, notFound(err)
	}
	if !ok {
		return nil, fmt.Errorf("manifest %s@%s: %w", repo, d, retention.ErrNotFound)
	}
	return slices.Clone(tags), nil
}

// notFound marks a 404 as retention.ErrNotFound, keeping the server's words.
func notFound(err error) error {
	if err != nil && IsNotFound(err) {
		return fmt.Errorf("%w: %w", retention.ErrNotFound, err)
	}
	return err
}

// Tag characters in bytewise order, per the distribution specification:
// the first character cannot be '.' or '-'.
const (
	tagFirstChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
	tagRestChars  = "-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
	maxTagLen     = 128
)

// tagPredecessor is the greatest valid tag below name, or "" if there is
// none, so that listing after it starts exactly at name.
func tagPredecessor(name string) string {
	if name == "" {
		return ""
	}
	last := len(name) - 1
	set := tagRestChars
	if last == 0 {
		set = tagFirstChars
	}
	i := strings.IndexByte(set, name[last])
	if i <= 0 {
		// Nothing valid sorts between the prefix and name.
		return name[:last]
	}
	return name[:last] + string(set[i-1]) + strings.Repeat("z", maxTagLen-len(name))
}

// digestPredecessor is the digest of the same algorithm and length just
// below d, and true; or "" and false when d's encoding is not lowercase hex
// or is all zeros, and the caller must scan from the start.
func digestPredecessor(d digest.Digest) (digest.Digest, bool) {
	alg, enc, ok := strings.Cut(string(d), ":")
	if !ok || enc == "" || strings.Trim(enc, "0123456789abcdef") != "" {
		return "", false
	}
	b := []byte(enc)
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case '0':
			b[i] = 'f'
			continue
		case 'a':
			b[i] = '9'
		default:
			b[i]--
		}
		return digest.Digest(alg + ":" + string(b)), true
	}
	return "", false
}
