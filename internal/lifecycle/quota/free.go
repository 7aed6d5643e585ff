package quota

// FreeBytes is the space an unprivileged process may still use on dir's
// filesystem: what the storage.min_free_bytes watermark is compared with.
// The web UI's usage page shows it.
func FreeBytes(dir string) (int64, error) { return freeBytes(dir) }
