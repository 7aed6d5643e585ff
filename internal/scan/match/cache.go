package match

import "sync"

// maxCachedVersions bounds the version cache of one Matcher (installed
// versions and the versions of advisory ranges); past it versions are
// parsed every time, which is only slower.
const maxCachedVersions = 1 << 20

type versionKey struct{ ecosystem, version string }

type cachedVersion struct {
	v   version
	err error
}

// versionCache maps an ecosystem and version string to its parse.
type versionCache struct {
	mu sync.RWMutex
	m  map[versionKey]cachedVersion
}

func (m *matcher) installed(eco, s string, parse parseFunc) (version, error) {
	c := &m.versions
	k := versionKey{eco, s}
	c.mu.RLock()
	cv, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return cv.v, cv.err
	}
	v, err := parseBounded(parse, s)
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[versionKey]cachedVersion)
	}
	if len(c.m) < maxCachedVersions {
		c.m[k] = cachedVersion{v, err}
	}
	c.mu.Unlock()
	return v, err
}
