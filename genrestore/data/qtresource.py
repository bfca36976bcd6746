"""Reading files out of Qt resource archives (.rcc), where GCompris keeps its photographs.

The format (Qt's ``rcc``, versions 1-3): a 20-byte header ("qres", version, and the offsets
of the tree, data and name tables), a tree of 14-byte entries (22 from version 2: plus a
modification time), names as UTF-16 with a hash, and each file's bytes behind a 4-byte size,
zlib-compressed (flag 1, after a 4-byte uncompressed size) or zstd-compressed (flag 4).
"""

from __future__ import annotations

import functools
import struct
import zlib
from pathlib import Path

_DIRECTORY, _ZLIB, _ZSTD = 2, 1, 4


@functools.lru_cache(maxsize=2)
def read_archive(path: str) -> dict[str, bytes]:
    """{member path ("a/b/c.webp"): its bytes} of the .rcc file ``path``; ValueError when it
    is not one."""
    buf = Path(path).read_bytes()
    if buf[:4] != b"qres":
        raise ValueError(f"{path}: not a Qt resource archive")
    version, tree, data, names = struct.unpack(">IIII", buf[4:20])
    entry = 22 if version >= 2 else 14

    def name(offset: int) -> str:
        (n,) = struct.unpack(">H", buf[names + offset : names + offset + 2])
        start = names + offset + 6  # after the length and the name's hash
        return buf[start : start + 2 * n].decode("utf-16-be")

    files: dict[str, bytes] = {}
    stack = [(0, "")]  # (entry index, its folder); entry 0 is the unnamed root
    while stack:
        index, folder = stack.pop()
        o = tree + index * entry
        name_at, flags = struct.unpack(">IH", buf[o : o + 6])
        path_here = f"{folder}/{name(name_at)}".lstrip("/") if index else ""
        if flags & _DIRECTORY:
            count, first = struct.unpack(">II", buf[o + 6 : o + 14])
            stack += [(c, path_here) for c in range(first, first + count)]
            continue
        (at,) = struct.unpack(">I", buf[o + 10 : o + 14])
        (size,) = struct.unpack(">I", buf[data + at : data + at + 4])
        raw = buf[data + at + 4 : data + at + 4 + size]
        if flags & _ZLIB:
            raw = zlib.decompress(raw[4:])
        elif flags & _ZSTD:
            continue  # not used by the archives read here; skipped rather than misread
        files[path_here] = raw
    return files


def archive_member(path: Path) -> tuple[Path, str] | None:
    """(archive, member) when ``path`` points inside a .rcc file (archive.rcc/a/b.webp)."""
    for parent in path.parents:
        if parent.suffix == ".rcc":
            return parent, path.relative_to(parent).as_posix()
    return None
