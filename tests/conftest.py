import os
from pathlib import Path

import pytest

# Ray started by the tests stays on loopback (see bench/ray_executor.py), also in subprocess drivers.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (``$NASREPRO_DATA``); tests that need it skip when it is absent."""
    value = os.environ.get("NASREPRO_DATA")
    if not value or not Path(value).is_dir():
        pytest.skip("real data absent: set NASREPRO_DATA to a folder shaped like shared/data")
    return Path(value)


@pytest.fixture(scope="session")
def nb201_csv(shared_data: Path) -> Path:
    path = shared_data / "nb201" / "nb201_accuracy.csv"
    if not path.exists():
        pytest.skip(f"{path} absent")
    return path
