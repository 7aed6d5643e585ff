// Package vulndb is Berth's offline vulnerability database: OSV advisories
// imported from directories of OSV JSON files and from osv.dev "all.zip"
// dumps, held in memory as an immutable, versioned snapshot indexed for
// matching.
//
// A snapshot is built once by a Builder and never changed afterwards, so the
// matcher can read it without locks while a new snapshot is imported; Holder
// swaps snapshots atomically. Every snapshot has a Version derived from its
// content, which each finding records.
//
// The index is one map from package to the advisories that name it:
//
//	key{ecosystem base ("Debian"), normalized name ("openssl")}
//	  ──► []Candidate{*Advisory, *Affected (release "12", ranges, versions)}
//
// The distribution release ("Debian:12" → "12") stays on the Affected, so one
// lookup serves every release and the matcher filters by the image's OS.
//
// Imports are bounded (see Limits): entry sizes, entry counts and total bytes
// are capped, and a malformed, oversized or withdrawn entry is skipped and
// counted instead of failing the import.
package vulndb
