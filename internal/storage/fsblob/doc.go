// Package fsblob stores blobs and resumable uploads on a local filesystem.
// It is Berth's default storage.Store.
//
// On-disk layout under the store's directory:
//
//	<dir>/
//	  blobs/
//	    sha256/
//	      ab/
//	        ab12…ef            a committed blob, named by its digest; never modified
//	    sha512/…               same shape for sha512 digests
//	  uploads/
//	    <uuid>/                one upload in progress (lower-case canonical UUID)
//	      info                 JSON {repo, started}; written once, at Create
//	      data                 the bytes received so far
//	      state                JSON {size, alg, hash, writer}: offset and hash
//	                           state after the last durable Append (absent
//	                           until the first Append)
//	    .new-<uuid>/           an upload being created; renamed to <uuid> when
//	                           complete so a half-created upload is never seen
//
// Visibility. Commit verifies the upload's data, fsyncs it and renames it
// into blobs/ (same filesystem, so the rename is atomic), then fsyncs the
// directory. Stat and Open only ever see complete, verified blobs. If the
// blob already exists the upload is discarded: identical content is stored
// once.
//
// Resume and crashes. After every Append the data file is synced before the
// state file is replaced (write to a temporary name, rename), so the state
// never claims bytes that are not on disk. Data past the recorded size is an
// interrupted Append and is truncated away on the next use of the upload. If
// the state file is missing, unreadable or claims more than the data file
// holds, the data file is rehashed and its size becomes the upload's size.
// The streaming hash is sha256; a Commit against a sha512 digest rehashes the
// data file. So does a Commit of an upload that another Store instance (an
// earlier process) wrote to: the state file names its writer, and only
// bytes this process wrote itself are trusted without rereading them.
//
// Concurrency. Calls on different uploads run in parallel; calls on the same
// upload are serialized by an in-process lock. Several processes sharing one
// directory (multi-replica) need a cross-process lock that is not here yet.
package fsblob
