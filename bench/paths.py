"""Where data lives. Nothing here is copied into the repository: it is read at run time."""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATA = "NASREPRO_DATA"


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


def results_dir() -> Path:
    """Default output root: ./results (the repository's results/ when run from its root)."""
    return Path(os.environ.get("NASREPRO_RESULTS", "results"))


def cache_dir() -> Path:
    """Cache for derived artefacts (converted tables, trained supernets): not tracked by git."""
    path = Path(os.environ.get("NASREPRO_CACHE", Path.home() / ".cache" / "nasrepro"))
    path.mkdir(parents=True, exist_ok=True)
    return path
