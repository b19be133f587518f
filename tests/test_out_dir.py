"""``--out`` is checked before any work, and a failed write of results is one line (issue 13)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from nasrepro.bench.paths import check_out_dir


def test_check_out_dir_accepts_new_and_existing_folders(tmp_path: Path) -> None:
    assert check_out_dir(tmp_path) == tmp_path
    assert check_out_dir(str(tmp_path / "a" / "b")) == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # checking creates nothing


def test_check_out_dir_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a_file = tmp_path / "results.csv"
    a_file.write_text("x")
    for bad, why in [("", "is empty"), ("  ", "is empty"), (a_file, "is an existing file"),
                     (a_file / "sub", "is a file, so the folder cannot be created")]:
        with pytest.raises(ValueError, match=why) as exc:
            check_out_dir(bad, flag="--out")
        assert "\n" not in str(exc.value) and "--out" in str(exc.value)
    # an unwritable parent (simulated: as root, permission bits do not stop a write)
    real_access = os.access
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == ro else real_access(p, m))
    with pytest.raises(ValueError, match=r"is not writable \(.*ro is where it would be created\)"):
        check_out_dir(ro / "new")


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--bench", "toy", "--method", "random", "--seeds", "0", "--budget", "3evals"],
        ["correlate", "--archs", "2", "--proxies", "synflow", "--images", "mnist"],
        ["reproduce", "nb201-baselines", "--runs", "1"],
        ["reproduce", "fnas", "--seeds", "0"],
        ["reproduce", "zc-search"],
        ["reproduce", "zc-correlation", "--archs", "2"],
        ["reproduce", "spos-search"],
        ["reproduce", "pcf-es", "--random-init"],
        ["demo"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_every_out_is_checked_before_work(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from nasrepro.reproduce.cli import main

    monkeypatch.setenv("NASREPRO_CACHE", str(tmp_path / "cache"))
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    for out, why in [(str(a_file), "is an existing file"), ("", "is empty")]:
        assert main([*argv, "--out", out]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and why in err and err.count("\n") == 1, err
    assert a_file.read_text() == "x"


@pytest.mark.parametrize(
    ("code", "text"),
    [(errno.ENOSPC, "No space left on device; free space or use another --out"),
     (errno.EACCES, "Permission denied; use another --out")],
)
def test_write_errors_are_one_line(
    code: int, text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import nasrepro.bench.io
    from nasrepro.reproduce.cli import main

    def full_disk(fd: int, *args: object, **kw: object) -> object:  # a write() that fails as a full disk does
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(nasrepro.bench.io.os, "fdopen", full_disk)
    out = tmp_path / "out"
    rc = main(["run", "--bench", "toy", "--method", "random", "--seeds", "0", "--budget", "3evals",
               "--out", str(out)])
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert rc == 2 and last.startswith(f"error: cannot write {out}") and last.endswith(text), last
