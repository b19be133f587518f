"""Published numbers (shared/reference), read at run time and printed beside ours.

Located by ``$NASREPRO_REFERENCE``, else the ``reference`` folder beside ``$NASREPRO_DATA``.
Without it, reproductions still run and say that the published column is unavailable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas loads when a table is read, not when a command's module is imported
    import pandas as pd

ENV_REFERENCE = "NASREPRO_REFERENCE"


def reference_dir() -> Path | None:
    # every NASREPRO_* variable is read in bench.paths (a mistyped one fails there in one line)
    from nasrepro.bench.paths import reference_dir as _reference_dir

    return _reference_dir()


def load_reference_csv(name: str) -> pd.DataFrame:
    """A published-numbers CSV; an empty frame (with a note column) when the folder is absent."""
    import pandas as pd

    root = reference_dir()
    if root is None or not (root / name).exists():
        return pd.DataFrame({"note": [f"published numbers unavailable: set {ENV_REFERENCE} to shared/reference"]})
    return pd.read_csv(root / name)
