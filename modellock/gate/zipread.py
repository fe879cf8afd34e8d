"""A strict zip reader that sees what torch's reader sees and refuses what loaders disagree on.

torch reads the central directory, ignores CRCs and takes the first of two same-named entries;
Python's zipfile takes the last. Rather than pick a side, any such ambiguity is an error.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from typing import NamedTuple

from modellock.gate.budget import Budget, StreamError, expand
from modellock.gate.buffer import Window

MAX_MEMBERS = 40_000
"""Members one archive may have: each costs tens of microseconds to cross-check and scan."""
_ALLOWED_FLAGS = 0x0008 | 0x0800  # data descriptor, UTF-8 names
_EOCD = b"PK\x05\x06"
_CENTRAL = struct.Struct("<HHHHIIIHHH")  # flags, method, time, date, crc, sizes, name/extra/comment lengths


class ZipInvalid(Exception):
    """The archive is malformed or ambiguous."""


class Member(NamedTuple):
    """One central-directory entry, checked against its local header (a tuple: archives have many)."""

    name: str
    method: int
    crc: int
    compressed_size: int
    size: int
    data_offset: int
    local_crc: int = -1
    """The CRC the local header records, or its data descriptor when the header defers to one."""


def _u16(data: Window, at: int) -> int:
    return int(struct.unpack("<H", data.read(at, 2))[0])


def _u32(data: Window, at: int) -> int:
    return int(struct.unpack("<I", data.read(at, 4))[0])


def _u64(data: Window, at: int) -> int:
    return int(struct.unpack("<Q", data.read(at, 8))[0])


def _find_eocd(data: Window) -> int:
    tail_start = max(0, len(data) - 65557)
    tail = data.read(tail_start, 65557)
    at = tail.rfind(_EOCD)
    while at >= 0:
        comment_length = _u16(data, tail_start + at + 20) if tail_start + at + 22 <= len(data) else -1
        if tail_start + at + 22 + comment_length == len(data):
            return tail_start + at
        at = tail.rfind(_EOCD, 0, at)
    raise ZipInvalid("no end-of-central-directory record at the end of the file (trailing data?)")


def read_members(data: Window) -> list[Member]:
    """Parse and cross-check the archive; raises ZipInvalid on anything a loader could read differently."""
    try:
        return _read(data)
    except struct.error:
        raise ZipInvalid("truncated zip structure") from None
    except UnicodeDecodeError:
        raise ZipInvalid("a member name that is not valid UTF-8 despite its flag") from None


def _read(data: Window) -> list[Member]:
    eocd = _find_eocd(data)
    count, cd_size, cd_offset = _u16(data, eocd + 10), _u32(data, eocd + 12), _u32(data, eocd + 16)
    if _u16(data, eocd + 4) or _u16(data, eocd + 6):
        raise ZipInvalid("multi-disk archive")
    if count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        locator = eocd - 20
        if locator < 0 or data.read(locator, 4) != b"PK\x06\x07":
            raise ZipInvalid("zip64 fields without a zip64 locator")
        record = _u64(data, locator + 8)
        if data.read(record, 4) != b"PK\x06\x06":
            raise ZipInvalid("zip64 locator points to no zip64 record")
        count, cd_size, cd_offset = _u64(data, record + 32), _u64(data, record + 40), _u64(data, record + 48)
    if count > MAX_MEMBERS:
        raise ZipInvalid(f"{count} members is more than the {MAX_MEMBERS} allowed")
    members: list[Member] = []
    seen: set[str] = set()
    local_offsets: list[int] = []
    if cd_offset + cd_size > len(data):
        raise ZipInvalid("the central directory runs past the end of the file")
    directory = data.read(cd_offset, cd_size)  # one read: its size is bounded by the file's
    at = 0
    for _ in range(count):
        if directory[at : at + 4] != b"PK\x01\x02":
            raise ZipInvalid("broken central directory")
        (flags, method, _, _, crc, csize, size, name_len, extra_len, comment_len) = _CENTRAL.unpack_from(
            directory, at + 8
        )
        local = int.from_bytes(directory[at + 42 : at + 46], "little")
        raw_name = directory[at + 46 : at + 46 + name_len]
        extra = directory[at + 46 + name_len : at + 46 + name_len + extra_len]
        size, csize, local = _zip64_extra(extra, size, csize, local)
        at += 46 + name_len + extra_len + comment_len
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
        if flags & ~_ALLOWED_FLAGS:
            raise ZipInvalid(f"member {name!r} has unsupported flags {flags:#06x} (encryption or patching)")
        if method not in (0, 8):
            raise ZipInvalid(f"member {name!r} uses compression method {method}")
        if name in seen:
            raise ZipInvalid(f"member {name!r} appears twice (loaders disagree on which one counts)")
        seen.add(name)
        lo = data.start + local  # sliced directly: this runs once per member
        header = data.buf[lo : min(data.end, lo + 30 + name_len)]
        if header[:4] != b"PK\x03\x04" or len(header) < 30:
            raise ZipInvalid(f"member {name!r} has no local header")
        local_name_len, local_extra_len = struct.unpack_from("<HH", header, 26)
        if header[30 : 30 + local_name_len] != raw_name or local_name_len != name_len:
            raise ZipInvalid(f"member {name!r}: local header names a different file")
        start = local + 30 + local_name_len + local_extra_len
        if start + csize > cd_offset:
            raise ZipInvalid(f"member {name!r} runs into the central directory")
        local_crc = int.from_bytes(header[14:18], "little")
        if flags & 0x0008:
            descriptor = data.buf[data.start + start + csize : min(data.end, data.start + start + csize + 8)]
            local_crc = int.from_bytes(descriptor[4:8] if descriptor[:4] == b"PK\x07\x08" else descriptor[:4], "little")
        members.append(Member(name, method, crc, csize, size, start, local_crc))
        local_offsets.append(local)
    if members and min(local_offsets) != 0:
        raise ZipInvalid("data before the first member (a file prefixed to the archive)")
    # Members that share bytes are the overlapping-entry zip bomb; real archives never overlap.
    spans = sorted((m.data_offset, m.data_offset + m.compressed_size, m.name) for m in members)
    for (_, end, name), (start, _, other) in itertools.pairwise(spans):
        if start < end:
            raise ZipInvalid(f"members {name!r} and {other!r} overlap")
    if cd_offset + cd_size != eocd and not (count and cd_offset + cd_size <= eocd - 20):
        raise ZipInvalid("data between the central directory and its end record")
    return members


def _zip64_extra(extra: bytes, size: int, csize: int, local: int) -> tuple[int, int, int]:
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == 0x0001:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, at + 4))
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if local == 0xFFFFFFFF and values:
                local = values.pop(0)
        at += 4 + length
    return size, csize, local


def member_window(data: Window, member: Member, budget: Budget, *, keep: bool = True) -> Window | None:
    """The member's bytes: read in place when stored, inflated under the budget when deflated.

    Its size is checked against the directory; `keep=False` inflates only to count and check.
    """
    raw = data.sub(member.data_offset, member.compressed_size)
    if len(raw) != member.compressed_size:
        raise ZipInvalid(f"member {member.name!r} runs past the end of the file")
    if member.method == 0:
        if member.size != member.compressed_size:
            raise ZipInvalid(f"stored member {member.name!r} has two different sizes")
        return raw
    try:
        size, out = expand(raw, "deflate", budget, f"zip member {member.name!r}", keep=keep)
    except StreamError as exc:
        raise ZipInvalid(f"member {member.name!r}: {exc}") from None
    if size != member.size:
        raise ZipInvalid(f"member {member.name!r} inflates to {size} bytes, its header says {member.size}")
    return out


def check_crc(window: Window, member: Member, *, unset_ok: bool = False) -> None:
    """Refuse a member whose bytes changed after its writer computed their CRC.

    torch's reader never checks CRCs, and its writer records 0 for every member when CRC computation
    is off (`torch.serialization.set_crc32_options(False)`), in the directory and in the descriptor
    after the data; `unset_ok` accepts that 0 for archives torch writes, whose loader reads the same
    bytes whatever the CRC says. A 0 in one place and a CRC in another is an edit, not torch's
    output, and a nonzero CRC that does not match is refused: no writer produces either.
    """
    if unset_ok and member.crc == 0 and member.local_crc == 0:
        return
    crc, at = 0, 0
    while at < len(window):
        chunk = window.read(at, 1 << 20)
        crc, at = zlib.crc32(chunk, crc), at + len(chunk)
    if crc != member.crc:
        raise ZipInvalid(f"member {member.name!r} fails its CRC check")
