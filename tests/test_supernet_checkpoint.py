"""Checkpoints: the official format (module.-prefixed state_dict) and ours, with clear mismatch errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.supernet.checkpoint import (
    load_checkpoint,
    load_official_checkpoint,
    save_checkpoint,
    save_official_checkpoint,
)
from bench.supernet.model import ShuffleNetV2OneShot


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
