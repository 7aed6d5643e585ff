package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// On disk, a key set is a directory (mode 0700) of one file per key:
//
//	<dir>/
//	  <key ID>.pem    mode 0600: PEM "PRIVATE KEY" (PKCS #8, Ed25519)
//	                  with a header "Created: <RFC 3339 time>"
//
// The key ID is the RFC 7638 JWK thumbprint of the public key, so a file
// renamed by hand is detected. The newest key signs; every key in the
// directory verifies. Removing a file (Remove) retires a key.

const (
	pemType       = "PRIVATE KEY"
	headerCreated = "Created"
	maxKeyFile    = 4 << 10
)

// ErrUnknownKey is returned for a key ID not in the set.
var ErrUnknownKey = errors.New("unknown signing key")

// KeyInfo describes one key of a set. It holds nothing secret.
type KeyInfo struct {
	ID      string
	Created time.Time
	// Signing is true for the key that signs new tokens.
	Signing bool
}

type signingKey struct {
	id      string
	created time.Time
	priv    ed25519.PrivateKey
	pub     ed25519.PublicKey
}

// KeySet is the server's signing keys. It is safe for concurrent use; a
// rotation is seen by the next Issue and Verify.
type KeySet struct {
	dir string
	now func() time.Time

	mu      sync.RWMutex
	keys    map[string]*signingKey
	current *signingKey
}

// OpenKeySet loads the keys in dir, creating dir (0700) and a first key if
// there are none. A key file readable by group or others, or a directory
// they can write, is refused, as ssh refuses such a private key.
func OpenKeySet(ctx context.Context, dir string) (*KeySet, error) {
	ks := &KeySet{dir: dir, now: time.Now, keys: map[string]*signingKey{}}
	if err := ks.load(ctx); err != nil {
		return nil, err
	}
	if ks.current == nil {
		if _, err := ks.Rotate(ctx); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

func (ks *KeySet) load(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(ks.dir, 0o700); err != nil {
		return fmt.Errorf("creating key directory: %w", err)
	}
	fi, err := os.Stat(ks.dir)
	if err != nil {
		return fmt.Errorf("reading key directory: %w", err)
	}
	// Key IDs are public, so a listable directory leaks nothing; a
	// writable one would let someone plant a key that signs.
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("key directory %s is writable by others (mode %o); run chmod 700 %s", ks.dir, fi.Mode().Perm(), ks.dir)
	}
	entries, err := os.ReadDir(ks.dir)
	if err != nil {
		return fmt.Errorf("reading key directory: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".pem") {
			continue
		}
		k, err := readKey(filepath.Join(ks.dir, e.Name()))
		if err != nil {
			return err
		}
		ks.add(k)
	}
	return nil
}

// add inserts k and makes the newest key the signer; ks.mu must be held
// or ks not yet shared.
func (ks *KeySet) add(k *signingKey) {
	ks.keys[k.id] = k
	if c := ks.current; c == nil || k.created.After(c.created) || (k.created.Equal(c.created) && k.id > c.id) {
		ks.current = k
	}
}

func readKey(path string) (*signingKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading signing key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading signing key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s is accessible by others (mode %o); run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading signing key %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("signing key %s: larger than %d bytes", path, maxKeyFile)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != pemType {
		return nil, fmt.Errorf("signing key %s: no PEM %q block", path, pemType)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s: %T is not an Ed25519 key", path, parsed)
	}
	created, err := time.Parse(time.RFC3339Nano, block.Headers[headerCreated])
	if err != nil {
		return nil, fmt.Errorf("signing key %s: header %s: %w", path, headerCreated, err)
	}
	k := newKey(priv, created)
	if want := k.id + ".pem"; filepath.Base(path) != want {
		return nil, fmt.Errorf("signing key %s: file name does not match its key ID; expected %s", path, want)
	}
	return k, nil
}

func newKey(priv ed25519.PrivateKey, created time.Time) *signingKey {
	pub := priv.Public().(ed25519.PublicKey)
	return &signingKey{id: thumbprint(pub), created: created.UTC(), priv: priv, pub: pub}
}

// thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key (the
// members crv, kty, x in lexical order, no spaces), base64url without pad.
func thumbprint(pub ed25519.PublicKey) string {
	jwk := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(jwk))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Rotate generates a new key, stores it and makes it the signer. Older
// keys keep verifying the tokens they signed until removed.
func (ks *KeySet) Rotate(ctx context.Context) (KeyInfo, error) {
	if err := ctx.Err(); err != nil {
		return KeyInfo{}, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("generating signing key: %w", err)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	created := ks.now().UTC()
	if c := ks.current; c != nil && !created.After(c.created) {
		// A clock step backwards must not leave the new key unused.
		created = c.created.Add(time.Nanosecond)
	}
	k := newKey(priv, created)
	if err := writeKey(ks.dir, k); err != nil {
		return KeyInfo{}, err
	}
	ks.add(k)
	return KeyInfo{ID: k.id, Created: k.created, Signing: true}, nil
}

// writeKey stores k atomically: a temporary file (created 0600) is
// written, synced and renamed, so a crash never leaves half a key.
func writeKey(dir string, k *signingKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return fmt.Errorf("encoding signing key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{
		Type:    pemType,
		Headers: map[string]string{headerCreated: k.created.Format(time.RFC3339Nano)},
		Bytes:   der,
	})
	tmp, err := os.CreateTemp(dir, ".key-*.tmp")
	if err != nil {
		return fmt.Errorf("storing signing key: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("storing signing key: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("storing signing key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("storing signing key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("storing signing key: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, k.id+".pem")); err != nil {
		return fmt.Errorf("storing signing key: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing key directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing key directory: %w", err)
	}
	return nil
}

// Remove retires a key: tokens it signed stop verifying at once. The
// signing key cannot be removed; rotate first.
func (ks *KeySet) Remove(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	k, ok := ks.keys[id]
	if !ok {
		return fmt.Errorf("removing key %q: %w", id, ErrUnknownKey)
	}
	if k == ks.current {
		return fmt.Errorf("removing key %q: it is the signing key; rotate first", id)
	}
	if err := os.Remove(filepath.Join(ks.dir, id+".pem")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing key %q: %w", id, err)
	}
	delete(ks.keys, id)
	return syncDir(ks.dir)
}

// Keys lists the keys, newest first.
func (ks *KeySet) Keys() []KeyInfo {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	out := make([]KeyInfo, 0, len(ks.keys))
	for _, k := range ks.keys {
		out = append(out, KeyInfo{ID: k.id, Created: k.created, Signing: k == ks.current})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID > out[j].ID
	})
	return out
}

func (ks *KeySet) signer() *signingKey {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.current
}

func (ks *KeySet) publicKey(id string) (ed25519.PublicKey, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	k, ok := ks.keys[id]
	if !ok {
		return nil, false
	}
	return k.pub, true
}
