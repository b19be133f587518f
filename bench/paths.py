"""Where data lives. Nothing here is copied into the repository: it is read at run time."""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATA = "NASREPRO_DATA"
ENV_REFERENCE = "NASREPRO_REFERENCE"
NB201_CSV = ("nb201", "nb201_accuracy.csv")


def data_dir(required: bool = False) -> Path | None:
    """The folder shaped like ``shared/data`` named by ``$NASREPRO_DATA`` (None if unset)."""
    value = os.environ.get(ENV_DATA)
    if not value:
        if required:
            raise FileNotFoundError(
                f"no data folder: set {ENV_DATA} to a folder shaped like shared/data, or pass a path"
            )
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{ENV_DATA}={value} is not a folder; point it at a folder shaped like shared/data")
    return path


def data_file(*parts: str) -> Path:
    """A file under the data folder, with an error that says how to provide it."""
    root = data_dir(required=True)
    assert root is not None
    path = root.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; is {ENV_DATA}={root} a folder shaped like shared/data?")
    return path


def nb201_csv() -> Path | None:
    """``$NASREPRO_DATA/nb201/nb201_accuracy.csv``; None when ``NASREPRO_DATA`` is unset.

    Set but wrong (not a folder, or a folder without that file) is a one-line ``FileNotFoundError``:
    a mistyped variable must never fall back to the embedded table silently.
    """
    root = data_dir()
    if root is None:
        return None
    path = root.joinpath(*NB201_CSV)
    if not path.is_file():
        raise FileNotFoundError(
            f"{ENV_DATA}={root} has no {'/'.join(NB201_CSV)}; point it at a folder shaped like shared/data, "
            f"or unset it (the embedded table is then the default), or pass --table PATH"
        )
    return path


def reference_dir() -> Path | None:
    """``$NASREPRO_REFERENCE``, else ``reference/`` beside the data folder when it exists (None otherwise)."""
    value = os.environ.get(ENV_REFERENCE)
    if value:
        path = Path(value).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"{ENV_REFERENCE}={value} is not a folder; point it at shared/reference")
        return path
    root = data_dir()
    if root is not None and (root.parent / "reference").is_dir():
        return root.parent / "reference"
    return None


def check_out_dir(path: Path | str | None, flag: str = "--out") -> Path:
    """An output folder that can be created and written, checked before any work starts.

    Refused in one line (``ValueError``): an empty string, an existing file, a folder (or the nearest
    existing parent of a folder to be created) that is not writable.
    """
    if path is None or not str(path).strip():
        raise ValueError(f"{flag} is empty; give an output folder")
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"{flag} {out} is an existing file, not a folder; give a folder")
    probe = out
    while not probe.exists():  # the first existing ancestor is where the folder will be created
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ValueError(f"{flag} {out}: {probe} is a file, so the folder cannot be created; give another {flag}")
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "" if probe == out else f" ({probe} is where it would be created)"
        raise ValueError(f"{flag} {out} is not writable{where}; give another {flag}")
    return out


def results_dir() -> Path:
    """Default output root: ./results (the repository's results/ when run from its root)."""
    return Path(os.environ.get("NASREPRO_RESULTS", "results"))


def cache_dir() -> Path:
    """Cache for derived artefacts (converted tables, trained supernets): not tracked by git."""
    path = Path(os.environ.get("NASREPRO_CACHE", Path.home() / ".cache" / "nasrepro"))
    path.mkdir(parents=True, exist_ok=True)
    return path
