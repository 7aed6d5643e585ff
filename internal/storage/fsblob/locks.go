package fsblob

import "sync"

// lockTable serializes calls on the same upload while letting different
// uploads proceed in parallel. Entries are reference counted so the table
// does not grow with every upload ever seen.
type lockTable struct {
	mu sync.Mutex
	m  map[string]*lockEntry
}

type lockEntry struct {
	mu   sync.Mutex
	refs int
}

// lock takes the lock for id and returns its release.
func (t *lockTable) lock(id string) func() {
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[string]*lockEntry)
	}
	e := t.m[id]
	if e == nil {
		e = &lockEntry{}
		t.m[id] = e
	}
	e.refs++
	t.mu.Unlock()

	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		t.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(t.m, id)
		}
		t.mu.Unlock()
	}
}
