"""Exports of a wasm module read straight from its bytes, without compiling it.

Compiling a large module takes most of a second (DESIGN.md); the tenants
screen only needs the export names, which sit in section 7 of the binary.
"""

from __future__ import annotations

from pathlib import Path

MAGIC = b"\0asm"
EXPORT_SECTION = 7


def _leb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def exports(data: bytes) -> tuple[str, ...]:
    """Export names in module order. Errors: ValueError for bytes that are not wasm."""
    if data[:4] != MAGIC:
        raise ValueError("not a wasm module (bad magic)")
    pos = 8
    try:
        while pos < len(data):
            section, size, start = data[pos], *_leb(data, pos + 1)
            if section == EXPORT_SECTION:
                count, pos = _leb(data, start)
                names = []
                for _ in range(count):
                    length, pos = _leb(data, pos)
                    names.append(data[pos:pos + length].decode("utf-8", errors="replace"))
                    _, pos = _leb(data, pos + length + 1)  # kind byte, then index
                return tuple(names)
            pos = start + size
    except IndexError as exc:
        raise ValueError("truncated wasm module") from exc
    return ()


def blob_info(blobs: Path, sha256: str) -> tuple[int, tuple[str, ...]] | None:
    """(size, exports) of ``<blobs>/<sha256>.wasm``, or None when it is not there."""
    try:
        data = (blobs / f"{sha256}.wasm").read_bytes()
        return len(data), exports(data)
    except (OSError, ValueError):
        return None
