"""Delivered key IDs: RFC 9562 version-8 UUIDs that name a slice of a stored key.

The two KMEs of a link hold the same stored keys under the same key ids but do not talk to each
other, so the slave's KME must find the bytes of a key from its key_ID alone. A delivered key is
bytes [offset, offset + size) of one stored key; its key_ID packs

    bits 127..80  ref >> 12          (ref = top 60 bits of SHA-256(stored key id), public)
    bits  79..76  0b1000             (version 8)
    bits  75..64  ref & 0xfff
    bits  63..62  0b10               (RFC 9562 variant)
    bits  61..26  offset in bytes    (36 bits)
    bits  25..0   size in bytes      (26 bits)

Nothing in it depends on key material.
"""

from __future__ import annotations

import uuid

MAX_OFFSET = (1 << 36) - 1
MAX_SIZE = (1 << 26) - 1


def encode_key_id(ref: int, offset: int, size_bytes: int) -> uuid.UUID:
    if not 0 <= ref < 1 << 60:
        raise ValueError(f"ref must fit in 60 bits, got {ref}")
    if not 0 <= offset <= MAX_OFFSET or not 1 <= size_bytes <= MAX_SIZE:
        raise ValueError(f"slice offset={offset} size={size_bytes} does not fit a key_ID")
    value = (
        ((ref >> 12) << 80)
        | (0x8 << 76)
        | ((ref & 0xFFF) << 64)
        | (0b10 << 62)
        | (offset << 26)
        | size_bytes
    )
    return uuid.UUID(int=value)


def decode_key_id(key_id: uuid.UUID) -> tuple[int, int, int]:
    """(ref, offset, size_bytes) of a key_ID made by :func:`encode_key_id`; ValueError if not."""
    value = key_id.int
    if (value >> 76) & 0xF != 0x8 or (value >> 62) & 0b11 != 0b10:
        raise ValueError(f"{key_id} is not a key_ID issued by a qkdpp KME")
    ref = ((value >> 80) << 12) | ((value >> 64) & 0xFFF)
    offset = (value >> 26) & MAX_OFFSET
    size = value & MAX_SIZE
    if size == 0:
        raise ValueError(f"{key_id} names an empty key")
    return ref, offset, size
