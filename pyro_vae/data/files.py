"""Reading data files: plain or gzip-compressed (recognised by its magic bytes, not its name)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from pyro_vae.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path, expected: str) -> bytes:
    """The content of ``path``, decompressed when gzipped; a one-line :class:`DataError` saying
    what is wrong and that ``expected`` was expected when it is missing, unreadable or corrupt."""
    if not path.is_file():
        problem = "not a file" if path.exists() else "no such file"
        raise DataError(f"{path}: {problem}, expected {expected}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror}), expected {expected}") from None
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: corrupt gzip stream ({e}), expected {expected}, completely gzipped") from None
