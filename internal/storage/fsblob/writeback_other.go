//go:build !linux

package fsblob

import "os"

// startWriteback is a no-op where sync_file_range does not exist.
func startWriteback(*os.File, int64, int64) {}

// syncData flushes a file to disk.
func syncData(f *os.File) error { return f.Sync() }
