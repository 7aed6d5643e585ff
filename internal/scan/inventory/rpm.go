package inventory

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The rpm databases are read by this package's own code, not by
// github.com/knqyf263/go-rpmdb: that library reads in goroutines that panic
// on malformed pages (a panic there cannot be recovered and would end the
// server), loops forever on a cyclic overflow chain, leaks its goroutine on
// every error and prints to stdout. The formats are small; the code below
// follows rpm's lib/header.c, lib/backend/ndb/rpmpkg.c and Berkeley DB's
// hash page layout, with every offset checked.

// rpm header tags and types (rpm's lib/rpmtag.h).
const (
	rpmTagName      = 1000
	rpmTagVersion   = 1001
	rpmTagRelease   = 1002
	rpmTagEpoch     = 1003
	rpmTagVendor    = 1011
	rpmTagArch      = 1022
	rpmTagSourceRPM = 1044

	rpmTypeInt32       = 4
	rpmTypeString      = 6
	rpmTypeI18NString  = 9
	rpmHeaderMaxBytes  = 32 << 20 // rpm's own limit is 256 MiB; a real header is a few KiB to 1 MiB
	rpmHeaderMaxTags   = 0xffff   // rpm's hdrchkTags
	rpmEntryInfoLength = 16
)

// maxRPMHeaders bounds the headers one database may yield, whatever its
// slots or pages claim; a real system has a few thousand packages.
const maxRPMHeaders = 200_000

var errRPMHeader = errors.New("malformed rpm header")

// rpmHeader holds the fields of one installed package's header.
type rpmHeader struct {
	name, version, release, arch, sourceRPM, vendor string
	epoch                                           int64 // -1: none
}

func (h *rpmHeader) set(tag uint32, s string) {
	switch tag {
	case rpmTagName:
		h.name = s
	case rpmTagVersion:
		h.version = s
	case rpmTagRelease:
		h.release = s
	case rpmTagArch:
		h.arch = s
	case rpmTagSourceRPM:
		h.sourceRPM = s
	case rpmTagVendor:
		h.vendor = s
	}
}

// parseRPMHeader reads the tags it needs from a header blob as stored in
// the database: index length and data length (big-endian), the index
// entries {tag, type, offset, count}, then the data store.
func parseRPMHeader(blob []byte) (rpmHeader, error) {
	h := rpmHeader{epoch: -1}
	if len(blob) < 8 {
		return h, fmt.Errorf("%w: %d bytes", errRPMHeader, len(blob))
	}
	il := binary.BigEndian.Uint32(blob)
	dl := binary.BigEndian.Uint32(blob[4:])
	if il == 0 || il > rpmHeaderMaxTags || dl > rpmHeaderMaxBytes {
		return h, fmt.Errorf("%w: %d tags, %d data bytes", errRPMHeader, il, dl)
	}
	dataStart := 8 + uint64(il)*rpmEntryInfoLength
	if dataStart+uint64(dl) > uint64(len(blob)) {
		return h, fmt.Errorf("%w: %d tags and %d data bytes do not fit in %d bytes", errRPMHeader, il, dl, len(blob))
	}
	data := blob[dataStart : dataStart+uint64(dl)]
	for i := range uint64(il) {
		e := blob[8+i*rpmEntryInfoLength:]
		tag := binary.BigEndian.Uint32(e)
		typ := binary.BigEndian.Uint32(e[4:])
		off := binary.BigEndian.Uint32(e[8:])
		if uint64(off) >= uint64(len(data)) {
			continue // region trailers and unknown tags may point anywhere; only the tags read below are checked
		}
		switch tag {
		case rpmTagName, rpmTagVersion, rpmTagRelease, rpmTagArch, rpmTagSourceRPM, rpmTagVendor:
			if typ != rpmTypeString && typ != rpmTypeI18NString {
				return h, fmt.Errorf("%w: tag %d has type %d", errRPMHeader, tag, typ)
			}
			s, _, ok := bytes.Cut(data[off:], []byte{0})
			if !ok {
				return h, fmt.Errorf("%w: tag %d is not terminated", errRPMHeader, tag)
			}
			h.set(tag, string(s))
		case rpmTagEpoch:
			if typ != rpmTypeInt32 || uint64(off)+4 > uint64(len(data)) {
				return h, fmt.Errorf("%w: malformed epoch", errRPMHeader)
			}
			h.epoch = int64(binary.BigEndian.Uint32(data[off:]))
		}
	}
	if h.name == "" || h.version == "" {
		return h, fmt.Errorf("%w: no name or version", errRPMHeader)
	}
	return h, nil
}

// rpmPackage turns a header into a package. The version is rpm's EVR
// ("1:2.4-3.el9", the epoch only when set), the form OSV's Red Hat, Rocky
// and AlmaLinux ranges use. The source package comes from the source rpm's
// file name, "name-version-release.src.rpm".
func rpmPackage(h rpmHeader) Package {
	v := h.version
	if h.release != "" {
		v += "-" + h.release
	}
	if h.epoch >= 0 {
		v = strconv.FormatInt(h.epoch, 10) + ":" + v
	}
	p := Package{Name: h.name, Version: v, Arch: h.arch, Vendor: h.vendor, Ecosystem: EcosystemRPM}
	src := strings.TrimSuffix(strings.TrimSuffix(h.sourceRPM, ".src.rpm"), ".nosrc.rpm")
	if src != h.sourceRPM {
		if i := strings.LastIndexByte(src, '-'); i > 0 {
			if j := strings.LastIndexByte(src[:i], '-'); j > 0 {
				p.SourceName, p.SourceVersion = src[:j], src[j+1:]
			}
		}
	}
	return p
}

// parseRPMDB reads an rpm database of any of the three formats, recognised
// by content: sqlite (rpm ≥ 4.16, Fedora, RHEL 9), ndb (SUSE) and Berkeley DB
// hash (RHEL ≤ 8, CentOS). sqlite needs a file, which spool makes in the
// scratch directory; the other two are read from memory.
func parseRPMDB(ctx context.Context, data []byte, spool func([]byte) (string, func(), error)) ([]Package, error) {
	var (
		blobs [][]byte
		err   error
	)
	switch {
	case bytes.HasPrefix(data, []byte("SQLite format 3\x00")):
		path, release, serr := spool(data)
		if serr != nil {
			return nil, serr
		}
		defer release()
		blobs, err = readRPMSQLite(ctx, path)
	case bytes.HasPrefix(data, []byte("RpmP")):
		blobs, err = readRPMNDB(data)
	default:
		blobs, err = readRPMBDB(data)
	}
	if err != nil {
		return nil, err
	}
	pkgs := make([]Package, 0, len(blobs))
	for i, b := range blobs {
		h, err := parseRPMHeader(b)
		if err != nil {
			return nil, fmt.Errorf("header %d: %w", i+1, err)
		}
		// gpg-pubkey "packages" are the imported signing keys, not software.
		if h.name == "gpg-pubkey" {
			continue
		}
		pkgs = append(pkgs, rpmPackage(h))
	}
	return pkgs, nil
}
