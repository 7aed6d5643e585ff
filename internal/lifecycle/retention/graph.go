package retention

import "github.com/opencontainers/go-digest"

// graph is the reference structure of one repository's manifests, by index
// into the sorted manifest slice. References to manifests the repository
// does not hold are dropped: they cannot be deleted or kept here.
type graph struct {
	index     map[digest.Digest]int
	isLocked  []bool
	children  [][]int // index → the children it lists
	parents   [][]int // child → the indexes listing it
	referrers [][]int // subject → manifests whose subject it is
	subject   []int   // referrer → its subject, or -1
}

func newGraph(ms []ManifestPlan) *graph {
	n := len(ms)
	g := &graph{
		index:     make(map[digest.Digest]int, n),
		isLocked:  make([]bool, n),
		children:  make([][]int, n),
		parents:   make([][]int, n),
		referrers: make([][]int, n),
		subject:   make([]int, n),
	}
	for i, m := range ms {
		g.index[m.Digest] = i
		g.isLocked[i] = m.Locked
	}
	for i, m := range ms {
		g.subject[i] = -1
		if s, ok := g.index[m.Subject]; ok && m.Subject != "" && s != i {
			g.subject[i] = s
			g.referrers[s] = append(g.referrers[s], i)
		}
		for _, d := range m.Children {
			if c, ok := g.index[d]; ok && c != i {
				g.children[i] = append(g.children[i], c)
				g.parents[c] = append(g.parents[c], i)
			}
		}
	}
	return g
}

func (g *graph) locked(d digest.Digest) bool {
	i, ok := g.index[d]
	return ok && g.isLocked[i]
}

func (g *graph) hasSubject(i int) bool { return g.subject[i] >= 0 }

// assignWaves numbers deleted manifests so that every deleted index comes
// before its deleted children and every deleted referrer before its deleted
// subject. A reference cycle, which content addressing cannot produce but a
// broken Source can, is cut where it is found.
func (g *graph) assignWaves(ms []ManifestPlan) {
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]uint8, len(ms))
	var wave func(i int) int
	wave = func(i int) int {
		switch state[i] {
		case done:
			return ms[i].Wave
		case visiting:
			return -1
		}
		state[i] = visiting
		w := 0
		// Predecessors: deleted indexes listing i, deleted referrers of i.
		for _, p := range g.parents[i] {
			if ms[p].Delete {
				w = max(w, wave(p)+1)
			}
		}
		for _, r := range g.referrers[i] {
			if ms[r].Delete {
				w = max(w, wave(r)+1)
			}
		}
		ms[i].Wave = w
		state[i] = done
		return w
	}
	for i := range ms {
		if ms[i].Delete {
			wave(i)
		}
	}
}
