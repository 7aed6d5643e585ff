package sqlite

// scansGoneSchema ties a scan to its content's life (docs/scanning.md):
// when the last manifest row of a digest is deleted — purged from the
// recycle bin, deleted outright, its repository deleted — the scan with
// its inventory goes, and its findings with it (scan_vulns cascades). A
// manifest in the recycle bin keeps its row, so a restore finds its
// findings without a rescan. The migration also drops the scans that an
// earlier version kept after their manifests.
const scansGoneSchema = `
CREATE TRIGGER scans_of_deleted_manifests AFTER DELETE ON manifests
WHEN NOT EXISTS (SELECT 1 FROM manifests WHERE digest = OLD.digest)
BEGIN
	DELETE FROM scans WHERE digest = OLD.digest;
END;
DELETE FROM scans WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = scans.digest);
`
