"""Checksums of the data files nasrepro knows by name, verified when they are loaded.

- the shared CSVs (``nb201_accuracy.csv``, ``nb201_latency_ms.csv``): SHA-256 of the files in
  ``shared/data/nb201`` (computed when this table was written);
- the official NAS-Bench-201 files, whose names carry a hash tag: the NB201 README says
  ``NAS-Bench-201-v1_0-e61699.pth`` "where e61699 is the last six digits for this file"; the digest
  is not named there; a third-party record of v1_1 gives ``md5 = 55e847...6b096897`` (not verified here:
  the official files are not on this machine), so the tag must equal the last six hex digits of the MD5.

Only files with these exact names are checked: a CSV of one's own under another name is validated by
its values alone (``bench.nb201.tables``). A mismatch is a one-line ``ValueError`` that says what to do.

Verification is cached by (path, size, mtime): in memory (``bench.io.file_digest``) and, for large
files (the official ``.pth`` files are 2-5 GB, ~10 s to hash), in ``<cache>/checksums.json``, so a
second load of the same unchanged file does not read it again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nasrepro.bench.io import atomic_write_text, file_digest


@dataclass(frozen=True)
class Known:
    algorithm: str  # "md5" | "sha256"
    digest: str  # full hex digest, or the hex tag the file's digest must end with (``suffix``)
    suffix: bool = False
    what: str = ""


KNOWN: dict[str, Known] = {
    "nb201_accuracy.csv": Known(
        "sha256", "5ac09be3d3a603c1f9a83bd53c16bf64a201b353fdf4b3d517d648327db4d208",
        what="the shared NB201 accuracy CSV",
    ),
    "nb201_latency_ms.csv": Known(
        "sha256", "0191986668890addb4266a47dec8da2cd2d3dcd91e4f0cf318bf1d091de4aba0",
        what="the shared NB201 latency CSV",
    ),
    "NAS-Bench-201-v1_0-e61699.pth": Known("md5", "e61699", suffix=True, what="the official NB201 v1_0 file"),
    "NAS-Bench-201-v1_1-096897.pth": Known("md5", "096897", suffix=True, what="the official NB201 v1_1 file"),
}

_PERSIST_BYTES = 64 << 20  # below this, hashing is faster than reading and writing the cache file
_CACHE_NAME = "checksums.json"


def _persistent_digest(path: Path, algorithm: str) -> str:
    """``file_digest`` with an on-disk cache keyed by (resolved path, size, mtime) for large files."""
    st = path.stat()
    if st.st_size < _PERSIST_BYTES:
        return file_digest(path, algorithm)
    from nasrepro.bench.paths import cache_dir

    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{algorithm}"
    try:
        store_path = cache_dir() / _CACHE_NAME
        store = json.loads(store_path.read_text()) if store_path.exists() else {}
    except (OSError, ValueError):
        store_path, store = None, {}
    if isinstance(store, dict) and isinstance(store.get(key), str):
        return str(store[key])
    digest = file_digest(path, algorithm)
    if store_path is not None:
        try:
            atomic_write_text(store_path, json.dumps({**store, key: digest}, sort_keys=True))
        except OSError:
            pass  # a read-only cache only costs a re-hash next time
    return digest


def verify_known(path: Path | str) -> str | None:
    """Check a file whose name is in :data:`KNOWN`; return its digest (None for an unknown name).

    Raises a one-line ``ValueError`` naming the file, both checksums and what to do on a mismatch.
    """
    path = Path(path)
    known = KNOWN.get(path.name)
    if known is None or not path.is_file():
        return None
    digest = _persistent_digest(path, known.algorithm)
    ok = digest.endswith(known.digest) if known.suffix else digest == known.digest
    if not ok:
        expected = f"...{known.digest}" if known.suffix else known.digest
        raise ValueError(
            f"{path}: {known.algorithm} checksum {digest} does not match {known.what or path.name} "
            f"(expected {expected}); the file is damaged or modified: fetch it again, or rename it "
            "if it is a table of your own"
        )
    return digest
