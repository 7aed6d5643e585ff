//go:build linux

package fsblob

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to begin writing [off, off+n) to disk
// without waiting, so that dirty pages do not pile up for the final fsync.
// It is a hint: failure changes nothing about correctness.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// syncData flushes a file's data and the metadata needed to read it back
// (its size), skipping timestamps.
func syncData(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
