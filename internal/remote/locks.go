package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// LockInfo is an entry of GET /api/v1/locks: a repository lock when Tag
// and Digest are empty. A false attribute forbids.
type LockInfo struct {
	Repository    string        `json:"repository"`
	Tag           string        `json:"tag,omitempty"`
	Digest        digest.Digest `json:"digest,omitempty"`
	WriteEnabled  bool          `json:"writeEnabled"`
	DeleteEnabled bool          `json:"deleteEnabled"`
	ReadEnabled   bool          `json:"readEnabled"`
}

// forbidsDelete reports whether the lock refuses deletion, as the server
// decides it: write-enabled=false or delete-enabled=false.
func (l LockInfo) forbidsDelete() bool { return !l.WriteEnabled || !l.DeleteEnabled }

// ImmutableRule is an entry of GET /api/v1/immutable-rules.
type ImmutableRule struct {
	ID           int64  `json:"id"`
	Repositories string `json:"repositories"`
	Tags         string `json:"tags"`
}

// Locks returns the locks of repo on a Berth server.
func (c *Client) Locks(ctx context.Context, repo string) ([]LockInfo, error) {
	if !oci.ValidName(repo) {
		return nil, fmt.Errorf("invalid repository name %q", repo)
	}
	resp, err := c.do(ctx, http.MethodGet, "/api/v1/locks?"+url.Values{"repository": {repo}}.Encode(), jsonHeader())
	if err != nil {
		return nil, fmt.Errorf("reading locks of %s: %w", repo, err)
	}
	var body struct {
		Locks []LockInfo `json:"locks"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		return nil, fmt.Errorf("decoding locks of %s: %w (body %q)", repo, err, trimBody(resp.body))
	}
	return body.Locks, nil
}

// ImmutableRules returns the immutability rules of a Berth server.
func (c *Client) ImmutableRules(ctx context.Context) ([]ImmutableRule, error) {
	resp, err := c.do(ctx, http.MethodGet, "/api/v1/immutable-rules", jsonHeader())
	if err != nil {
		return nil, fmt.Errorf("reading immutability rules: %w", err)
	}
	var body struct {
		Rules []ImmutableRule `json:"rules"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		return nil, fmt.Errorf("decoding immutability rules: %w (body %q)", err, trimBody(resp.body))
	}
	return body.Rules, nil
}

// ClearLock removes the lock of repo, repo:tag or repo@d; the error wraps
// a 404 *StatusError when there is none.
func (c *Client) ClearLock(ctx context.Context, repo, tag string, d digest.Digest) error {
	if !oci.ValidName(repo) {
		return fmt.Errorf("invalid repository name %q", repo)
	}
	q := url.Values{"repository": {repo}}
	if tag != "" {
		q.Set("tag", tag)
	}
	if d != "" {
		q.Set("digest", d.String())
	}
	if _, err := c.do(ctx, http.MethodDelete, "/api/v1/locks?"+q.Encode(), nil); err != nil {
		return fmt.Errorf("clearing lock of %s: %w", lockRef(repo, tag, d), err)
	}
	return nil
}

func lockRef(repo, tag string, d digest.Digest) string {
	switch {
	case tag != "":
		return repo + ":" + tag
	case d != "":
		return repo + "@" + d.String()
	}
	return repo
}

// repoLocks is what the locks of one repository and the immutability
// rules say about deleting its tags and manifests.
type repoLocks struct {
	repo      bool // a repository lock forbids every deletion
	tags      map[string]bool
	digests   map[digest.Digest]bool
	immutable []*regexp.Regexp // tag patterns of the rules matching the repository
}

func (rl *repoLocks) tagImmutable(tag string) bool {
	for _, re := range rl.immutable {
		if re.MatchString(tag) {
			return true
		}
	}
	return false
}

// lockCache reads locks and rules once per repository and run, so that
// listing tags and manifests of a repository costs two more requests, not
// one per item.
type lockCache struct {
	mu    sync.Mutex
	repos map[string]*lockEntry
}

type lockEntry struct {
	once sync.Once
	v    *repoLocks
	err  error
}

func (lc *lockCache) get(ctx context.Context, c *Client, repo string) (*repoLocks, error) {
	lc.mu.Lock()
	if lc.repos == nil {
		lc.repos = map[string]*lockEntry{}
	}
	e, ok := lc.repos[repo]
	if !ok {
		e = &lockEntry{}
		lc.repos[repo] = e
	}
	lc.mu.Unlock()
	e.once.Do(func() { e.v, e.err = loadLocks(ctx, c, repo) })
	return e.v, e.err
}

func loadLocks(ctx context.Context, c *Client, repo string) (*repoLocks, error) {
	rl := &repoLocks{tags: map[string]bool{}, digests: map[digest.Digest]bool{}}
	locks, err := c.Locks(ctx, repo)
	if err != nil {
		return nil, err
	}
	for _, l := range locks {
		if !l.forbidsDelete() {
			continue // a read lock alone does not stop a deletion
		}
		switch {
		case l.Tag != "":
			rl.tags[l.Tag] = true
		case l.Digest != "":
			rl.digests[l.Digest] = true
		default:
			rl.repo = true
		}
	}
	rules, err := c.ImmutableRules(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		// Anchored as the server anchors them; a pattern that does not
		// compile protects nothing there either.
		reRepo, err1 := regexp.Compile(`^(?:` + r.Repositories + `)$`)
		reTag, err2 := regexp.Compile(`^(?:` + r.Tags + `)$`)
		if err1 == nil && err2 == nil && reRepo.MatchString(repo) {
			rl.immutable = append(rl.immutable, reTag)
		}
	}
	return rl, nil
}
