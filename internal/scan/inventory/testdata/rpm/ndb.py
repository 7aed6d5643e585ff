"""Writes rpm header blobs ("hnum|hex" lines) as an rpm ndb Packages.db.

Layout as rpm's lib/backend/ndb/rpmpkg.c writes it, little-endian: a header
{"RpmP", version 0, generation, slot pages, next package index, 0, 0, 0}
filling the first two slots of one 4 KiB slot page; slots {"Slot", package
index, block offset, block count}; blobs at block offset x 16, each
{"BlbS", package index, adler32, length} + blob + a 12-byte tail, padded to
16 bytes.
"""
import struct, sys, zlib

blobs = [(int(n), bytes.fromhex(h)) for n, h in (l.strip().split("|") for l in open(sys.argv[1]))]
page = 4096
slots, body = [], b""
blk = page // 16
for idx, blob in blobs:
    rec = struct.pack("<4sIII", b"BlbS", idx, zlib.adler32(blob), len(blob)) + blob
    rec += struct.pack("<III", zlib.adler32(blob), len(blob), 0)
    rec += b"\0" * (-len(rec) % 16)
    slots.append(struct.pack("<4sIII", b"Slot", idx, blk, len(rec) // 16))
    blk += len(rec) // 16
    body += rec
head = struct.pack("<4sIIIIIII", b"RpmP", 0, 1, 1, max(n for n, _ in blobs) + 1, 0, 0, 0)
free = struct.pack("<4sIII", b"Slot", 0, 0, 0)
slotpage = head + b"".join(slots) + free * (page // 16 - 2 - len(slots))
open(sys.argv[2], "wb").write(slotpage + body)
