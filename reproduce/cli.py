"""The ``nasrepro`` command.

Subcommands come from modules of this package, found at run time so that an area
adds its commands in its own file:

- ``reproduce/cmd_<area>.py`` defines ``register(subparsers) -> None`` that adds
  top-level subcommands, each with ``set_defaults(func=handler)``, ``handler(args) -> int``;
- ``reproduce/repro_<name>.py`` defines ``NAME`` (e.g. ``"nb201-baselines"``),
  ``DESCRIPTION``, ``add_arguments(parser)`` and ``run(args) -> int``; it becomes
  ``nasrepro reproduce NAME``. It may define ``demo(out_dir: Path) -> str`` (a short
  version, returning a Markdown section) that ``nasrepro demo`` runs;
- ``reproduce/speed_<name>.py`` defines the same four names and becomes ``nasrepro speed NAME``:
  a speed measurement of nasrepro itself, written to ``results/speed/NAME.{md,csv}``.

Every one of these modules is imported to build the parser, so their top levels import numpy at
most: pandas, scipy, torch, matplotlib and tqdm load inside the functions that use them.

A user's mistake (``ValueError``, ``FileNotFoundError``) ends with a one-line
``error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from nasrepro import reproduce

EXIT_USAGE = 2
EXIT_WRITE = 2  # results could not be written (disk full, no permission): one line and 2, as every user-facing error
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_WRITE_ERRNOS = (*_FULL_ERRNOS, errno.EACCES, errno.EPERM, errno.EROFS)


def _modules(prefix: str) -> list[ModuleType]:
    names = sorted(m.name for m in pkgutil.iter_modules(reproduce.__path__) if m.name.startswith(prefix))
    return [importlib.import_module(f"nasrepro.reproduce.{n}") for n in names]


def reproductions() -> dict[str, ModuleType]:
    return {m.NAME: m for m in _modules("repro_")}


def speeds() -> dict[str, ModuleType]:
    return {m.NAME: m for m in _modules("speed_")}


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (``error: ...``, exit 2), like every other user error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message} (see '{self.prog} --help')\n")


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names (its first word that is not an option), or None."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; given the ``argv`` it will parse, the ``reproduce`` and ``speed`` groups import
    their modules (every ``repro_*`` and ``speed_*`` file) only when ``argv`` names that group or none."""
    lazy = argv is not None and _command(argv) not in (None, "reproduce", "speed")
    parser = OneLineParser(
        prog="nasrepro",
        description="NAS benchmark-and-reproduction suite: search methods, benchmarks, paper reproductions.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in _modules("cmd_"):
        mod.register(sub)
    _add_group(sub, "reproduce", "reproduction", "regenerate a paper's table or figure",
               {} if lazy else reproductions())
    _add_group(sub, "speed", "speed", "measure nasrepro's own speed (results/speed/NAME.md, .csv)",
               {} if lazy else speeds())
    return parser


def _add_group(sub: argparse._SubParsersAction, command: str, dest: str, help_text: str,
               modules: dict[str, ModuleType]) -> None:
    """``nasrepro COMMAND NAME``: one subcommand per module (NAME, DESCRIPTION, add_arguments, run)."""
    group = sub.add_parser(command, help=help_text).add_subparsers(dest=dest, metavar="NAME")
    group.required = True
    for name, mod in modules.items():
        p = group.add_parser(name, help=mod.DESCRIPTION, description=mod.DESCRIPTION)
        mod.add_arguments(p)
        p.set_defaults(func=mod.run)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        # a full disk or a folder we may not write: one line that says which file, not a traceback
        if err.errno not in _WRITE_ERRNOS:
            raise
        where = f" {err.filename}" if err.filename else ""
        hint = "free space or use another --out" if err.errno in _FULL_ERRNOS else "use another --out"
        print(f"error: cannot write{where}: {os.strerror(err.errno)}; {hint}", file=sys.stderr)
        return EXIT_WRITE
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to resume", file=sys.stderr)
        if argv is None:  # the command itself: leave now, without waiting on exit handlers (a pool's
            sys.stdout.flush()  # manager thread can keep a loaded machine's interpreter alive for
            sys.stderr.flush()  # seconds); workers are already killed and every file written is whole
            os._exit(130)
        return 130


if __name__ == "__main__":
    sys.exit(main())
