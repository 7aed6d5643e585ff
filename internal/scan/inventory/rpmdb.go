package inventory

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // registers the "sqlite" driver; Berth's metadata store uses the same one
)

var errRPMDB = errors.New("malformed rpm database")

// readRPMSQLite returns the header blobs of an rpm sqlite database (rpm ≥
// 4.16). The file is opened read-only and immutable, so sqlite neither
// writes a journal next to it nor takes locks.
func readRPMSQLite(ctx context.Context, path string) ([][]byte, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("immutable", "1")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening sqlite: %w", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT blob FROM Packages")
	if err != nil {
		return nil, fmt.Errorf("reading Packages: %w", err)
	}
	defer rows.Close()
	var blobs [][]byte
	for rows.Next() {
		if len(blobs) >= maxRPMHeaders {
			return nil, fmt.Errorf("%w: more than %d packages", errRPMDB, maxRPMHeaders)
		}
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("reading Packages: %w", err)
		}
		blobs = append(blobs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading Packages: %w", err)
	}
	return blobs, nil
}

// ndb layout (rpm's lib/backend/ndb/rpmpkg.c), little-endian: a 32-byte
// header {"RpmP", version 0, generation, slot pages, …} that also fills the
// first two slots of the first 4 KiB slot page; slots {"Slot", package
// index, block offset, block count}; a blob at block offset × 16 starts with
// {"BlbS", package index, checksum, length}.
const (
	ndbSlotPageSize = 4096
	ndbSlotSize     = 16
	ndbBlockSize    = 16
	ndbMaxSlotPages = 2048 // as rpm: 2048 pages are 500,000 packages
)

func readRPMNDB(data []byte) ([][]byte, error) {
	le := binary.LittleEndian
	if len(data) < 32 || le.Uint32(data[4:]) != 0 {
		return nil, fmt.Errorf("%w: not an ndb version 0 header", errRPMDB)
	}
	pages := le.Uint32(data[12:])
	if pages == 0 || pages > ndbMaxSlotPages || uint64(pages)*ndbSlotPageSize > uint64(len(data)) {
		return nil, fmt.Errorf("%w: %d slot pages in %d bytes", errRPMDB, pages, len(data))
	}
	var blobs [][]byte
	for off := uint64(32); off < uint64(pages)*ndbSlotPageSize; off += ndbSlotSize {
		s := data[off : off+ndbSlotSize]
		if string(s[:4]) != "Slot" {
			return nil, fmt.Errorf("%w: bad slot magic at offset %d", errRPMDB, off)
		}
		idx := le.Uint32(s[4:])
		if idx == 0 {
			continue // a free slot
		}
		start := uint64(le.Uint32(s[8:])) * ndbBlockSize
		if start+16 > uint64(len(data)) || string(data[start:start+4]) != "BlbS" || le.Uint32(data[start+4:]) != idx {
			return nil, fmt.Errorf("%w: no blob for package %d", errRPMDB, idx)
		}
		n := uint64(le.Uint32(data[start+12:]))
		if start+16+n > uint64(len(data)) {
			return nil, fmt.Errorf("%w: blob of package %d runs past the end", errRPMDB, idx)
		}
		blobs = append(blobs, data[start+16:start+16+n])
	}
	return blobs, nil
}

// Berkeley DB hash database (db's dbinc/db_page.h): page 0 is the hash
// metadata page; hash pages hold key/data pairs whose data is either on the
// page (H_KEYDATA) or in a chain of overflow pages (H_OFFPAGE), where rpm
// keeps its headers. Byte order is the writer's, told by the magic number.
const (
	bdbHashMagic      = 0x00061561
	bdbPageHeaderSize = 26
	bdbPageHash       = 13
	bdbPageHashOld    = 2 // unsorted hash pages, before db 4.6 (RHEL 5)
	bdbPageOverflow   = 7
	bdbPageHashMeta   = 8
	bdbItemKeyData    = 1
	bdbItemOffPage    = 3
)

func readRPMBDB(data []byte) ([][]byte, error) {
	if len(data) < 512 {
		return nil, fmt.Errorf("%w: %d bytes is not an rpm database", errRPMDB, len(data))
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch {
	case bo.Uint32(data[12:]) == bdbHashMagic:
	case binary.BigEndian.Uint32(data[12:]) == bdbHashMagic:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: not a Berkeley DB hash, ndb or sqlite file", errRPMDB)
	}
	pageSize := uint64(bo.Uint32(data[20:]))
	if data[24] != 0 {
		return nil, fmt.Errorf("%w: encrypted", errRPMDB)
	}
	if data[25] != bdbPageHashMeta || pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		return nil, fmt.Errorf("%w: page type %d, page size %d", errRPMDB, data[25], pageSize)
	}
	pages := uint64(len(data)) / pageSize
	if last := uint64(bo.Uint32(data[32:])); last+1 < pages {
		pages = last + 1
	}
	page := func(n uint64) []byte { return data[n*pageSize : (n+1)*pageSize] }

	var blobs [][]byte
	for n := uint64(1); n < pages; n++ {
		p := page(n)
		if p[25] != bdbPageHash && p[25] != bdbPageHashOld {
			continue
		}
		entries := uint64(bo.Uint16(p[20:]))
		if bdbPageHeaderSize+entries*2 > pageSize {
			return nil, fmt.Errorf("%w: page %d claims %d entries", errRPMDB, n, entries)
		}
		// Entries are key, data, key, data…; items grow down from the
		// page's end, so an item ends where the one before it starts.
		for i := uint64(1); i < entries; i += 2 {
			off := uint64(bo.Uint16(p[bdbPageHeaderSize+2*i:]))
			end := uint64(bo.Uint16(p[bdbPageHeaderSize+2*(i-1):]))
			if off < bdbPageHeaderSize || off >= pageSize {
				return nil, fmt.Errorf("%w: page %d item %d at offset %d", errRPMDB, n, i, off)
			}
			if bdbKeyIsZero(p, i-1, pageSize, bo) {
				continue // rpm's record 0 holds the next package number, not a header
			}
			var blob []byte
			switch p[off] {
			case bdbItemKeyData:
				if end <= off || end > pageSize {
					return nil, fmt.Errorf("%w: page %d item %d ends at %d", errRPMDB, n, i, end)
				}
				blob = p[off+1 : end]
			case bdbItemOffPage:
				if off+12 > pageSize {
					return nil, fmt.Errorf("%w: page %d item %d is cut", errRPMDB, n, i)
				}
				var err error
				blob, err = bdbOverflow(data, pageSize, pages, uint64(bo.Uint32(p[off+4:])), uint64(bo.Uint32(p[off+8:])), bo)
				if err != nil {
					return nil, fmt.Errorf("page %d item %d: %w", n, i, err)
				}
			default:
				continue // duplicate sets are not used by rpm
			}
			if len(blobs) >= maxRPMHeaders {
				return nil, fmt.Errorf("%w: more than %d packages", errRPMDB, maxRPMHeaders)
			}
			blobs = append(blobs, blob)
		}
	}
	return blobs, nil
}

// bdbKeyIsZero reports whether item k of hash page p is the 4-byte key 0.
func bdbKeyIsZero(p []byte, k, pageSize uint64, bo binary.ByteOrder) bool {
	off := uint64(bo.Uint16(p[bdbPageHeaderSize+2*k:]))
	end := pageSize
	if k > 0 {
		end = uint64(bo.Uint16(p[bdbPageHeaderSize+2*(k-1):]))
	}
	return end == off+5 && p[off] == bdbItemKeyData && bo.Uint32(p[off+1:]) == 0
}

// bdbOverflow follows a chain of overflow pages from first for total bytes.
// The chain is at most as long as the file has pages, so a cycle ends.
func bdbOverflow(data []byte, pageSize, pages, first, total uint64, bo binary.ByteOrder) ([]byte, error) {
	if total > uint64(len(data)) || total > rpmHeaderMaxBytes {
		return nil, fmt.Errorf("%w: overflow item of %d bytes", errRPMDB, total)
	}
	out := make([]byte, 0, total)
	for n, steps := first, uint64(0); uint64(len(out)) < total; steps++ {
		if n == 0 || n >= pages || steps >= pages {
			return nil, fmt.Errorf("%w: overflow chain breaks at page %d", errRPMDB, n)
		}
		p := data[n*pageSize : (n+1)*pageSize]
		if p[25] != bdbPageOverflow {
			return nil, fmt.Errorf("%w: page %d in an overflow chain has type %d", errRPMDB, n, p[25])
		}
		// An overflow page's "high free offset" is the length of its data.
		l := uint64(bo.Uint16(p[22:]))
		if l > pageSize-bdbPageHeaderSize || l > total-uint64(len(out)) {
			return nil, fmt.Errorf("%w: overflow page %d holds %d bytes", errRPMDB, n, l)
		}
		out = append(out, p[bdbPageHeaderSize:bdbPageHeaderSize+l]...)
		n = uint64(bo.Uint32(p[16:]))
	}
	return out, nil
}
