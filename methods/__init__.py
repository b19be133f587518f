"""Search methods, one file each, registered by name (see methods/base.py)."""

import importlib
import pkgutil

from nasrepro.methods.base import Method, get_method, make_method, register, registry

_NOT_METHODS = {"base", "testing"}
_loaded = False


def _load_all() -> None:
    """Import every module of this package so that its @register runs (adding a file adds a method)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _NOT_METHODS and not info.name.startswith("_"):
            importlib.import_module(f"nasrepro.methods.{info.name}")


__all__ = ["Method", "get_method", "make_method", "register", "registry"]
