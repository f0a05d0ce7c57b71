"""A gzip file stored decompressed in a runpack and rebuilt byte for byte on unpacking: its header
kept, the deflate settings that reproduced it found when packing (runpack.py says why)."""

from __future__ import annotations

import hashlib
import struct
import zlib

from pydantic import BaseModel, Field

MAX_CONTENT_BYTES = 4 << 30  # as runpack's MAX_UNPACKED_BYTES: past this a member is a bomb, kept as it is


class GzipRebuild(BaseModel):
    """How a gzip file stored decompressed is rebuilt: its header bytes, the deflate settings
    that reproduced it when packed, and its content's own size and sha256."""

    header_hex: str
    level: int = Field(ge=0, le=9)
    mem_level: int = Field(ge=1, le=9)
    content_size: int = Field(ge=0)
    content_sha256: str


def gzip_header_len(data: bytes) -> int | None:
    """Length of a plain gzip header (no extra field, comment or header CRC), else None."""
    if len(data) < 18 or data[:3] != b"\x1f\x8b\x08" or data[3] & ~0x08:
        return None
    if not data[3] & 0x08:
        return 10
    end = data.find(b"\0", 10)
    return None if end < 0 else end + 1


def deflate(content: bytes, level: int, mem_level: int) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, mem_level)
    return c.compress(content) + c.flush()


def gzip_bytes(header: bytes, content: bytes, level: int, mem_level: int) -> bytes:
    return (
        header + deflate(content, level, mem_level) + struct.pack("<II", zlib.crc32(content), len(content) & 0xFFFFFFFF)
    )


def rebuildable(data: bytes) -> tuple[bytes, GzipRebuild] | None:
    """(content, how to rebuild) when ``data`` is one gzip member this zlib reproduces exactly."""
    hl = gzip_header_len(data)
    if hl is None:
        return None
    try:
        d = zlib.decompressobj(-zlib.MAX_WBITS)
        content = d.decompress(data[hl:], MAX_CONTENT_BYTES)
        if not d.eof or d.unconsumed_tail or len(d.unused_data) != 8:
            return None  # several members, trailing bytes or a bomb: keep the bytes as they are
    except zlib.error:
        return None
    for level in (9, 6, 1, 2, 3, 4, 5, 7, 8):  # 9: Python's gzip default; 6: zlib's
        for mem in (8, 9):
            if gzip_bytes(data[:hl], content, level, mem) == data:
                return content, GzipRebuild(
                    header_hex=data[:hl].hex(),
                    level=level,
                    mem_level=mem,
                    content_size=len(content),
                    content_sha256=hashlib.sha256(content).hexdigest(),
                )
    return None
