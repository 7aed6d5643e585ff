package token

import (
	"crypto/sha256"
	"sync"
	"unsafe"
)

// maxCached bounds the verified-token cache. Each entry is a digest and
// the claims of one token the server itself issued.
const maxCached = 4096

// maxCachedToken keeps unusually large tokens out of the cache, so that
// its memory stays bounded by maxCached times a small size.
const maxCachedToken = 4 << 10

// verified remembers tokens whose signature checked out. An Ed25519
// verification costs tens of microseconds, more than serving a manifest,
// and a client sends the same token on every request of a pull. A hit
// means these exact bytes verified before; the key is still looked up
// (a removed key revokes its tokens at once) and the time claims are
// checked again on every request. Failures are never cached.
type verified struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]cachedClaims
}

type cachedClaims struct {
	kid    string
	claims Claims
}

func (c *verified) get(tok string) (cachedClaims, bool) {
	if len(tok) > maxCachedToken {
		return cachedClaims{}, false
	}
	sum := tokenSum(tok)
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.m[sum]
	return e, ok
}

// put stores a verified token. When full, entries expired by now (in
// seconds) go first; if that frees nothing the cache starts over, which
// costs one re-verification per live token and keeps the code trivial.
func (c *verified) put(tok, kid string, claims *Claims, now int64) {
	if len(tok) > maxCachedToken {
		return
	}
	sum := tokenSum(tok)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[sha256.Size]byte]cachedClaims)
	}
	if len(c.m) >= maxCached {
		for k, e := range c.m {
			if e.claims.ExpiresAt < now {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCached {
			clear(c.m)
		}
	}
	c.m[sum] = cachedClaims{kid: kid, claims: *claims}
}

// tokenSum is the cache key of a token. []byte(tok) would copy the token
// to the heap on every request (it is longer than the compiler's stack
// buffer); Sum256 only reads its argument, so it may read the string's
// bytes in place.
func tokenSum(tok string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok)))
}
