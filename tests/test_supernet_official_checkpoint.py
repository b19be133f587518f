"""The SPOS supernet against the official network (megvii-model/SinglePathOneShot).

Three opt-in checks, each skipped with its reason when its environment variable is unset:

- ``NASREPRO_SPOS_CHECKPOINT=/path/to/checkpoint-150000.pth.tar``: the released supernet checkpoint
  (``torch.save({'state_dict': DataParallel(model).state_dict()})``, keys ``module.*``) loads through
  :func:`nasrepro.bench.supernet.checkpoint.load_checkpoint`: every key maps to one of ours with the
  same shape and the same values, 1337 keys, 8,388,176 parameters (the count of the official
  ``src/Supernet/network.py`` instantiated), and :data:`REF_ARCH` on :func:`reference_input` gives
  finite ``(2, 1000)`` logits in eval mode (the checkpoint's BN running statistics).
- ``NASREPRO_SPOS_LOGITS=/path/to/logits.npy`` (with the checkpoint): those logits equal the
  reference within ``rtol = 1e-3``, ``atol = 1e-3 * max(1, max |reference|)``. Make the reference with
  the official code, on CPU in float32: ``model = ShuffleNetV2_OneShot()`` (``src/Supernet/network.py``),
  ``model.load_state_dict({k[len('module.'):]: v for k, v in ckpt['state_dict'].items()})``,
  ``model.eval()``, ``np.save(path, model(reference_input(), REF_ARCH).detach().numpy())``.
- ``NASREPRO_SPOS_OFFICIAL_SRC=/path/to/SinglePathOneShot/src``: the official code itself is imported
  from there and compared with ours: state-dict keys (names, order, shapes) and parameter count; eval
  logits of the same weights (the released checkpoint when ``NASREPRO_SPOS_CHECKPOINT`` is set, else
  seeded random weights and BN statistics) on :data:`REF_ARCH`, the four one-choice architectures and
  three random ones; FLOPs of ``src/Search/flops.py`` ``get_cand_flops`` against our table.

``test_synthetic_official_checkpoint`` runs the first two checks in the normal suite on a synthetic
file in the official layout (seeded imagenet supernet), so the loading path is covered without the
released checkpoint; it also shows that a wrong reference fails the comparison.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from nasrepro.bench.supernet.checkpoint import load_checkpoint
from nasrepro.bench.supernet.configs import get_config
from nasrepro.bench.supernet.flops import flops_table
from nasrepro.bench.supernet.model import ShuffleNetV2OneShot

ENV_CHECKPOINT = "NASREPRO_SPOS_CHECKPOINT"
ENV_LOGITS = "NASREPRO_SPOS_LOGITS"
ENV_OFFICIAL_SRC = "NASREPRO_SPOS_OFFICIAL_SRC"

OFFICIAL_N_KEYS = 1337  # len(DataParallel(ShuffleNetV2_OneShot()).state_dict()), torch 2.x
OFFICIAL_N_PARAMS = 8_388_176  # sum(p.numel()) of the official supernet, all choices
REF_ARCH = (2, 1, 0, 1, 2, 0, 2, 0, 2, 0, 2, 3, 0, 0, 0, 0, 3, 2, 3, 3)  # the official best subnet


def reference_input() -> torch.Tensor:
    """Two fixed 224 px images in 0..255 (the official preprocessing feeds BGR 0-255, unnormalised)."""
    return torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0)) * 255


def _env_file(name: str) -> Path:
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} unset: point it at the file to check this against")
    path = Path(value)
    if not path.is_file():
        pytest.fail(f"{name}={value} is not a file")
    return path


def check_official_checkpoint(path: Path, logits_path: Path | None = None) -> torch.Tensor:
    """Load an official-format checkpoint through the public loader, assert it maps fully; eval logits."""
    raw = torch.load(path, map_location="cpu", weights_only=True)
    sd = raw["state_dict"]
    assert sd and all(k.startswith("module.") for k in sd), "official keys carry DataParallel's 'module.'"
    model, meta = load_checkpoint(path)  # official format: the imagenet config
    assert meta == {"format": "official"} and model.config == get_config("imagenet")
    own = model.state_dict()
    assert len(sd) == len(own) == OFFICIAL_N_KEYS
    assert {k[len("module."):] for k in sd} == set(own)
    for key, value in sd.items():
        mine = own[key[len("module."):]]
        assert tuple(value.shape) == tuple(mine.shape), key
        assert torch.equal(value.to(mine.dtype), mine), f"{key} was not loaded as stored"
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_N_PARAMS
    model.eval()
    with torch.no_grad():
        logits = model(reference_input(), REF_ARCH)
    assert logits.shape == (2, 1000) and torch.isfinite(logits).all()
    if logits_path is not None:
        compare_logits(logits, logits_path)
    return logits


def compare_logits(logits: torch.Tensor, logits_path: Path) -> None:
    """``logits`` equal the reference ``.npy`` within rtol 1e-3, atol 1e-3 x max(1, max |reference|)."""
    ref = torch.from_numpy(np.load(logits_path)).to(logits.dtype)
    assert ref.shape == logits.shape, f"reference logits {tuple(ref.shape)}, ours {tuple(logits.shape)}"
    scale = max(1.0, ref.abs().max().item())
    torch.testing.assert_close(logits, ref, rtol=1e-3, atol=1e-3 * scale)


def _official_layout(model: torch.nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    """``{'state_dict': DataParallel(model).state_dict()}``: a module holding ``model`` as ``.module``
    (DataParallel itself would move the model to a GPU where one exists)."""
    holder = torch.nn.Module()
    holder.module = model
    return {"state_dict": holder.state_dict()}


def test_synthetic_official_checkpoint(tmp_path: Path) -> None:
    src = ShuffleNetV2OneShot("imagenet", seed=11)
    gen = torch.Generator().manual_seed(12)
    for m in src.modules():  # non-trivial BN statistics, so eval logits use what the file stores
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    path = tmp_path / "checkpoint-150000.pth.tar"
    torch.save(_official_layout(src), path)
    with torch.no_grad():
        expected = src.eval()(reference_input(), REF_ARCH)
    good, bad = tmp_path / "logits.npy", tmp_path / "wrong.npy"
    np.save(good, expected.numpy())
    np.save(bad, expected.numpy() + 1.0)
    logits = check_official_checkpoint(path, good)
    assert torch.equal(logits, expected)
    with pytest.raises(AssertionError):
        compare_logits(logits, bad)


def test_released_checkpoint_from_env() -> None:
    path = _env_file(ENV_CHECKPOINT)
    logits_path = _env_file(ENV_LOGITS) if os.environ.get(ENV_LOGITS) else None
    check_official_checkpoint(path, logits_path)


# ---- the official code itself ----------------------------------------------------------------------
def _import_official(src: Path, rel: str, name: str) -> ModuleType:
    """Import ``src/rel`` under ``name``; its folder is on sys.path only meanwhile (``from blocks import``)."""
    folder = str((src / rel).parent)
    spec = importlib.util.spec_from_file_location(name, src / rel)
    assert spec is not None and spec.loader is not None, f"{src / rel} is not importable"
    module = importlib.util.module_from_spec(spec)
    saved_blocks = sys.modules.pop("blocks", None)
    sys.path.insert(0, folder)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the official constructors print
            spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
        sys.modules.pop("blocks", None)
        if saved_blocks is not None:
            sys.modules["blocks"] = saved_blocks
    return module


def test_against_official_code_from_env() -> None:
    value = os.environ.get(ENV_OFFICIAL_SRC)
    if not value:
        pytest.skip(f"{ENV_OFFICIAL_SRC} unset: point it at a SinglePathOneShot checkout's src/ folder")
    src = Path(value)
    network = _import_official(src, "Supernet/network.py", "_spos_official_network")
    search_flops = _import_official(src, "Search/flops.py", "_spos_official_search_flops")
    with contextlib.redirect_stdout(io.StringIO()):
        official = network.ShuffleNetV2_OneShot()
    ours = ShuffleNetV2OneShot("imagenet", seed=0)
    off_sd, our_sd = official.state_dict(), ours.state_dict()
    assert list(off_sd) == list(our_sd)  # names and order
    assert all(tuple(off_sd[k].shape) == tuple(our_sd[k].shape) for k in off_sd)
    assert sum(p.numel() for p in official.parameters()) == OFFICIAL_N_PARAMS
    assert sum(p.numel() for p in ours.parameters()) == OFFICIAL_N_PARAMS

    ckpt = os.environ.get(ENV_CHECKPOINT)
    if ckpt:
        ours, _ = load_checkpoint(ckpt)
    else:
        gen = torch.Generator().manual_seed(7)
        for m in ours.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    official.load_state_dict(ours.state_dict(), strict=True)
    official.eval()
    ours.eval()
    rng = np.random.default_rng(0)
    archs = [REF_ARCH, *((c,) * 20 for c in range(4)), *(tuple(rng.integers(4, size=20).tolist()) for _ in range(3))]
    x = reference_input()
    with torch.no_grad():
        for arch in archs:
            ref = official(x, arch)
            scale = max(1.0, ref.abs().max().item())
            torch.testing.assert_close(ours(x, arch), ref, rtol=1e-4, atol=1e-4 * scale, msg=str(arch))

    table = flops_table("imagenet")
    for arch in [REF_ARCH, *((c,) * 20 for c in range(4))]:
        assert table.flops(arch) == search_flops.get_cand_flops(arch), arch
