// Package inventory lists the software packages inside an OCI image by
// streaming its layers: operating-system package databases (dpkg, apk),
// Go binaries, Python, npm and Java (Maven) packages.
//
// Layers are read in order as tar streams (plain, gzip or zstd) and are never
// extracted: only the few files that identify packages are read, each into a
// bounded buffer (or, for executables and archives, a size-capped file in a
// private scratch directory that is always removed). Links are never followed,
// devices and FIFOs never opened. Whiteouts (".wh.NAME" and the opaque marker
// ".wh..wh..opq") remove what lower layers contributed, so a package database
// deleted in a later layer is gone from the result.
//
// Every read is capped (see Limits). A cap that is hit, a database that does
// not parse, or a database format not supported yet makes the Inventory
// StatusPartial with a reason: an inventory never claims "no packages" because
// something could not be read.
//
// What is remembered while walking is one record per interesting path:
//
//	path ──► record{layer index, parsed packages | os-release | reason}
//
// A whiteout deletes the records of lower layers at or under its path; a
// later file at the same path replaces the record. The Inventory is assembled
// from the records that survive the last layer.
package inventory
