"""Checkpoints: the official format (module.-prefixed state_dict) and ours, with clear mismatch errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from nasrepro.bench.supernet.checkpoint import (
    load_checkpoint,
    load_official_checkpoint,
    save_checkpoint,
    save_official_checkpoint,
)
from nasrepro.bench.supernet.model import ShuffleNetV2OneShot


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_official_format_imagenet_roundtrip(tmp_path: Path) -> None:
    src = ShuffleNetV2OneShot("imagenet", seed=1)
    path = tmp_path / "checkpoint-150000.pth.tar"
    save_official_checkpoint(path, src)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert set(raw) == {"state_dict"} and all(k.startswith("module.") for k in raw["state_dict"])
    assert len(raw["state_dict"]) == 1337
    model, meta = load_checkpoint(path)  # official format defaults to the imagenet config
    assert meta == {"format": "official"} and _same(model, src)
    dst = load_official_checkpoint(path, ShuffleNetV2OneShot("imagenet", seed=2))
    assert _same(dst, src)


def test_official_format_mismatch_names_keys_and_shapes(tmp_path: Path) -> None:
    sd = {f"module.{k}": v for k, v in ShuffleNetV2OneShot("mnist-small").state_dict().items()}
    sd.pop("module.conv_last.0.weight")
    sd["module.extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth.tar"
    torch.save({"state_dict": sd}, path)
    with pytest.raises(ValueError) as err:
        load_checkpoint(path, "mnist-small")
    msg = str(err.value)
    assert "1 missing: conv_last.0.weight" in msg and "1 unexpected: extra.weight" in msg
    with pytest.raises(ValueError, match="shape mismatch: first_conv.0.weight"):
        load_checkpoint(path, "cifar10-small")


def test_own_format_records_config(tmp_path: Path) -> None:
    src = ShuffleNetV2OneShot("mnist-small", seed=5)
    path = tmp_path / "ours.pt"
    save_checkpoint(path, src, {"iters": 7})
    model, meta = load_checkpoint(path)
    assert model.config.name == "mnist-small" and meta == {"iters": 7} and _same(model, src)
    with pytest.raises(ValueError, match="checkpoint of the 'mnist-small' supernet, not 'cifar10-small'"):
        load_checkpoint(path, "cifar10-small")


def test_missing_and_garbage_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_checkpoint(tmp_path / "nope.pth.tar")
    junk = tmp_path / "junk.pth.tar"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        load_checkpoint(junk)


# ---- `supernet train` never overwrites a checkpoint unasked ------------------------------------------
def _train_argv(out: Path | None, steps: int, *extra: str) -> list[str]:
    argv = ["supernet", "train", "--config", "mnist-small", "--steps", str(steps), "--batch-size", "32",
            "--eval-archs", "0", "--checkpoint-every", "1", *extra]
    return argv + (["--out", str(out)] if out is not None else [])


def _iters(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["meta"]["iters"])


def test_train_refuses_a_finished_checkpoint_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nasrepro.reproduce.cli import main

    out = tmp_path / "sn"
    assert main(_train_argv(out, 2)) == 0
    ckpt = out / "checkpoint.pt"
    before = ckpt.read_bytes()
    capsys.readouterr()
    assert main(_train_argv(out, 3)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "finished training (2 of 2 steps)" in err
    assert "--resume" in err and "--force" in err and ckpt.read_bytes() == before
    assert main(_train_argv(out, 3, "--resume", "--force")) == 2
    assert "contradict" in capsys.readouterr().err and ckpt.read_bytes() == before
    assert main(_train_argv(out, 3, "--force")) == 0 and _iters(ckpt) == 3


def test_train_refuses_an_unfinished_checkpoint_and_resume_continues_it(tmp_path: Path) -> None:
    from dataclasses import replace

    from nasrepro.bench.supernet.data import load_data
    from nasrepro.bench.supernet.train import default_settings, train_supernet

    s = replace(default_settings("mnist-small", steps=3, batch_size=32), checkpoint_every=1)
    data = load_data("mnist-small")
    train_supernet("mnist-small", data, s, tmp_path, stop_after=1, progress=False)
    with pytest.raises(ValueError, match=r"unfinished training \(1 of 3 steps\); pass --resume"):
        train_supernet("mnist-small", data, s, tmp_path, progress=False)
    assert train_supernet("mnist-small", data, s, tmp_path, resume=True, progress=False).steps_done == 3


def test_train_refuses_the_default_cache_that_reproductions_reuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import nasrepro.bench.supernet.train as train_mod
    from nasrepro.reproduce.cli import main
    from nasrepro.reproduce.cmd_supernet import default_out, ensure_supernet

    monkeypatch.setenv("NASREPRO_CACHE", str(tmp_path))
    small = train_mod.TrainSettings(steps=2, batch_size=16, lr=0.1, checkpoint_every=1, log_every=1)
    monkeypatch.setitem(train_mod.DEFAULT_SETTINGS, "mnist-small", small)
    path, note = ensure_supernet("mnist-small", None, None)
    assert note.startswith("trained now") and Path(path).parent == default_out("mnist-small")
    before = Path(path).read_bytes()
    assert main(_train_argv(None, 5)) == 2  # no --out: the cache
    err = capsys.readouterr().err
    assert "finished training" in err and str(default_out("mnist-small")) in err
    assert Path(path).read_bytes() == before
    # ensure_supernet itself still replaces a cache trained with other settings (explicitly forced)
    monkeypatch.setitem(train_mod.DEFAULT_SETTINGS, "mnist-small", train_mod.TrainSettings(
        steps=3, batch_size=16, lr=0.1, checkpoint_every=1, log_every=1))
    assert ensure_supernet("mnist-small", None, None)[1].startswith("trained now") and _iters(Path(path)) == 3


def test_train_out_checked_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nasrepro.reproduce.cli import main

    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main(_train_argv(a_file, 2)) == 2
    assert "is an existing file" in capsys.readouterr().err
