"""Atomic file writes: a reader never sees a half-written file, and a crash loses nothing already written."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path | str, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temp file and a rename: a reader (or a resumed grid) sees the
    old file or the new one, never part of one, also after ``kill -9``. ``durable`` also fsyncs the data
    before the rename (survives a power loss); a grid's many small run files skip it (a run lost to a
    power cut is recomputed on resume, and 500 fsyncs cost more than the runs)."""
    path = Path(path)
    prefix = f".{path.name}."
    try:  # the folder usually exists: make it only when the temp file cannot be made (a grid writes 1,000 files)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    except (FileNotFoundError, NotADirectoryError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.errno is not None and err.filename is None:
            # a failed write() names no file (ENOSPC): name the result, so the error says which
            raise OSError(err.errno, os.strerror(err.errno), str(path)) from err
        raise


def atomic_write_text(path: Path | str, text: str, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable)


def atomic_write_jsonl(path: Path | str, rows: Iterable[dict[str, Any]], durable: bool = True) -> None:
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), durable)


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


_FINGERPRINT_CHUNK = 8 << 20


def file_fingerprint(path: Path | str) -> str:
    """A content fingerprint of a file: SHA-256 of its size and bytes (head and tail past 16 MiB).

    Identifies *what* a path held when a run was made (a retrained checkpoint at the same path is
    another file), without reading a multi-GB table in full.
    """
    p = Path(path)
    st = p.stat()
    return _fingerprint(str(p.resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=64)
def _fingerprint(path: str, size: int, mtime_ns: int) -> str:  # noqa: ARG001 - mtime keys the cache
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        if size <= 2 * _FINGERPRINT_CHUNK:
            h.update(fh.read())
        else:
            h.update(fh.read(_FINGERPRINT_CHUNK))
            fh.seek(size - _FINGERPRINT_CHUNK)
            h.update(fh.read(_FINGERPRINT_CHUNK))
    return "sha256:" + h.hexdigest()[:16]


def file_digest(path: Path | str, algorithm: str = "sha256") -> str:
    """Full hex digest of a file's bytes (``md5`` or ``sha256``), cached by (path, size, mtime).

    Unlike :func:`file_fingerprint` this reads the whole file: it is what a published checksum is
    compared with. The cache makes a second load in the same process free.
    """
    p = Path(path)
    st = p.stat()
    return _digest(str(p.resolve()), st.st_size, st.st_mtime_ns, algorithm)


@lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int, algorithm: str) -> str:  # noqa: ARG001 - keys the cache
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(_FINGERPRINT_CHUNK):
            h.update(chunk)
    return h.hexdigest()
