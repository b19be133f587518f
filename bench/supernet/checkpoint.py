"""Supernet checkpoints: the official SPOS format and ours.

Official (``src/Supernet/train.py``): ``torch.save({'state_dict': DataParallel(model).state_dict()})``,
so every key has the ``module.`` prefix; the released file is ``checkpoint-150000.pth.tar``. Our module
names equal the official ones, so keys map one to one after removing the prefix.

Ours: ``{'format': 'nasrepro-supernet', 'config': <config name>, 'state_dict': ..., 'meta': {...}}``
(``meta`` holds training facts: iterations, seconds, optimizer state where the trainer adds it).
A checkpoint of another config, or an official one that does not fit the model, raises ``ValueError``
listing the first few missing / unexpected keys and shape mismatches.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from nasrepro.bench.io import atomic_write_bytes
from nasrepro.bench.supernet.configs import SupernetConfig, get_config
from nasrepro.bench.supernet.model import ShuffleNetV2OneShot

FORMAT = "nasrepro-supernet"
_SHOW = 5  # how many offending keys a message names


def _read(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {path} not found; pass the path of a .pth.tar/.pt supernet checkpoint"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors have many types
        raise ValueError(f"{path} is not a readable torch checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")
    return obj


def strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove DataParallel/DDP's ``module.`` prefix where every key has it."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module.") :]: v for k, v in state_dict.items()}
    return dict(state_dict)


def compare_state_dict(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """None when ``state_dict`` fits ``model`` exactly, else a one-line description of the mismatch."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if not (missing or unexpected or shapes):
        return None
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
        if items:
            more = f" (+{len(items) - _SHOW} more)" if len(items) > _SHOW else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:_SHOW])}{more}")
    return "; ".join(parts)


def load_state_dict_checked(
    model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], source: str
) -> None:
    problem = compare_state_dict(model, state_dict)
    if problem:
        raise ValueError(
            f"{source} does not fit the {getattr(model, 'config', None) and model.config.name} "
            f"supernet: {problem}; pass the matching --config"
        )
    model.load_state_dict(state_dict, strict=True)


def load_official_checkpoint(path: Path | str, model: ShuffleNetV2OneShot) -> ShuffleNetV2OneShot:
    """Load the official ``checkpoint-150000.pth.tar`` format (``state_dict`` with ``module.`` keys) into ``model``."""
    obj = _read(path)
    sd = obj.get("state_dict", obj)
    if not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{path}: 'state_dict' holds non-tensor values; not a supernet checkpoint")
    load_state_dict_checked(model, strip_module_prefix(sd), str(path))
    return model


def save_official_checkpoint(path: Path | str, model: ShuffleNetV2OneShot) -> None:
    """Write ``model`` in the official format (``{'state_dict': {'module.<key>': tensor}}``), atomically."""
    sd = {f"module.{k}": v.detach().cpu() for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save({"state_dict": sd}, buf)
    atomic_write_bytes(path, buf.getvalue())


def save_checkpoint(
    path: Path | str, model: ShuffleNetV2OneShot, meta: Mapping[str, Any] | None = None
) -> None:
    """Write our format (config name recorded) atomically; ``meta`` must be torch-serialisable plain data."""
    obj = {
        "format": FORMAT,
        "config": model.config.name,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def checkpoint_config(path: Path | str) -> str | None:
    """The config name recorded in one of our checkpoints (None for an official-format file)."""
    obj = _read(path)
    return obj.get("config") if obj.get("format") == FORMAT else None


def load_checkpoint(
    path: Path | str, config: SupernetConfig | str | None = None, seed: int = 0
) -> tuple[ShuffleNetV2OneShot, dict[str, Any]]:
    """A supernet from either format: ``(model, meta)``.

    ``config=None`` takes the config recorded in our checkpoint, or ``imagenet`` for an official one.
    A config that differs from the recorded one raises ``ValueError``.
    """
    obj = _read(path)
    if obj.get("format") == FORMAT:
        recorded = str(obj.get("config"))
        if config is not None and get_config(config).name != recorded:
            raise ValueError(
                f"{path} is a checkpoint of the {recorded!r} supernet, not {get_config(config).name!r}; "
                f"pass --config {recorded} or another checkpoint"
            )
        model = ShuffleNetV2OneShot(recorded, seed=seed)
        load_state_dict_checked(model, obj["state_dict"], str(path))
        return model, dict(obj.get("meta", {}))
    model = ShuffleNetV2OneShot(get_config(config or "imagenet"), seed=seed)
    sd = obj.get("state_dict", obj)
    load_state_dict_checked(model, strip_module_prefix(sd), str(path))
    return model, {"format": "official"}
