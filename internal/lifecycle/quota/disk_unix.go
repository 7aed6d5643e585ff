//go:build unix

package quota

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// freeBytes is the space an unprivileged process may still use on dir's
// filesystem.
func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil //nolint:gosec,unconvert // sizes fit; field types vary by OS
}
