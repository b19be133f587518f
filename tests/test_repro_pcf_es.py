"""``nasrepro reproduce pcf-es`` and ``nasrepro run --bench supernet``: bad input is one line, exit 2."""

from __future__ import annotations

import pytest

from bench.supernet.checkpoint import save_checkpoint
from bench.supernet.model import ShuffleNetV2OneShot
from reproduce.cli import main


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--threshold", "0"], "threshold T"),
        (["--threshold", "1.2"], "threshold T"),
        (["--sample-rate", "1.5"], "sample-rate"),
        (["--sample-rate", "0"], "sample-rate"),
        (["--monitor-size", "-1"], "monitor-size f"),
        (["--cache-mb", "lots"], "cache-mb"),
        (["--bn-batches", "0"], "bn-batches"),
    ],
)
def test_bad_arguments(extra: list[str], needle: str, tmp_path, capsys) -> None:
    assert main(["reproduce", "pcf-es", "--random-init", "--out", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and len(err.splitlines()) == 1


def test_checkpoint_of_another_config(tmp_path, capsys) -> None:
    ckpt = tmp_path / "mnist.pt"
    save_checkpoint(ckpt, ShuffleNetV2OneShot("mnist-small"))
    assert main(["reproduce", "pcf-es", "--config", "cifar10-small", "--checkpoint", str(ckpt),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "mnist-small" in err and len(err.splitlines()) == 1


def test_run_supernet_non_numeric_cache(tmp_path, capsys) -> None:
    assert main(["run", "--bench", "supernet", "--config", "mnist-small", "--method", "pcf-es",
                 "--cache-mb", "abc", "--out", str(tmp_path)]) == 2
    assert "cache-mb" in capsys.readouterr().err
