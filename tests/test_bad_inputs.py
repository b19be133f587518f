"""Bad input over every command: one ``error:`` line naming the flag or file, exit 2, no traceback, and
nothing already written changed (checksums of a finished run folder before and after each case).

Run as a script to print the table of cases and what each printed::

    python tests/test_bad_inputs.py > bad_inputs.md
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]  # {prev}: a folder holding a finished run; {tmp}: a scratch folder; {file}: a file
    expect: str  # a fragment the error line must contain (the flag or file it names)


R = ("run", "--bench", "nb201", "--method", "rea", "--budget", "20evals", "--workers", "1")
CASES: list[Case] = [
    # ---- nasrepro run
    Case("empty --method", ("run", "--method", "", "--out", "{tmp}/o"), "--method"),
    Case("unknown method", ("run", "--method", "nope", "--out", "{tmp}/o"), "unknown method 'nope'"),
    Case("descending seed range", (*R, "--seeds", "5-2", "--out", "{tmp}/o"), "--seeds"),
    Case("malformed seeds", (*R, "--seeds", "abc", "--out", "{tmp}/o"), "--seeds"),
    Case("negative seed", (*R, "--seeds", "-3", "--out", "{tmp}/o"), "--seeds"),
    Case("unbounded seed range", (*R, "--seeds", "0-999999999", "--out", "{tmp}/o"), "--seeds"),
    Case("zero budget", ("run", "--bench", "toy", "--budget", "0", "--out", "{tmp}/o"), "budget"),
    Case("malformed budget", ("run", "--bench", "toy", "--budget", "fast", "--out", "{tmp}/o"), "budget"),
    Case("unbounded budget", ("run", "--bench", "toy", "--budget", "99999999999evals", "--out", "{tmp}/o"), "budget"),
    Case("infinite time budget", ("run", "--bench", "toy", "--budget", "1e400s", "--out", "{tmp}/o"), "budget"),
    Case("overflowing population", (*R, "--set", "population_size=1e400", "--out", "{tmp}/o"), "population_size"),
    Case("non-finite learning rate", ("run", "--bench", "nb201", "--method", "reinforce", "--budget", "20evals",
                                      "--set", "learning_rate=1e400", "--out", "{tmp}/o"), "learning_rate"),
    Case("unknown parameter", (*R, "--set", "popsize=3", "--out", "{tmp}/o"), "popsize"),
    Case("malformed --set", (*R, "--set", "population_size", "--out", "{tmp}/o"), "--set"),
    Case("zero population", (*R, "--set", "population_size=0", "--out", "{tmp}/o"), "population_size"),
    Case("unknown wrapper", (*R, "--wrap", "nope:k=1", "--out", "{tmp}/o"), "wrapper"),
    Case("unknown wrapper option", (*R, "--wrap", "warmup:nn=3", "--out", "{tmp}/o"), "nn"),
    Case("zero warmup", (*R, "--wrap", "warmup:n=0,proxy=params", "--out", "{tmp}/o"), "n_warmup"),
    Case("move on a method without propose", ("run", "--bench", "nb201", "--method", "ppo", "--wrap",
                                              "move:k=3,proxy=params", "--out", "{tmp}/o"), "propose"),
    Case("proxy without scores", (*R, "--wrap", "warmup:proxy=synflow", "--out", "{tmp}/o"), "scores=PATH"),
    Case("missing scores file", (*R, "--wrap", "warmup:proxy=synflow,scores={tmp}/none.csv", "--out", "{tmp}/o"),
         "none.csv"),
    Case("unknown benchmark", ("run", "--bench", "nope", "--out", "{tmp}/o"), "unknown benchmark"),
    Case("unknown dataset", ("run", "--bench", "nb201", "--dataset", "mnist9", "--out", "{tmp}/o"), "mnist9"),
    Case("missing table", (*R, "--table", "{tmp}/none.csv", "--out", "{tmp}/o"), "none.csv"),
    Case("truncated table", (*R, "--table", "{tmp}/truncated.npz", "--out", "{tmp}/o"), "truncated.npz"),
    Case("table with an accuracy of 150", (*R, "--table", "{tmp}/acc150.csv", "--out", "{tmp}/o"), "acc150.csv"),
    Case("empty --out", (*R, "--out", ""), "--out"),
    Case("--out is a file", (*R, "--out", "{file}"), "--out"),
    Case("--out under a file", (*R, "--out", "{file}/sub"), "--out"),
    Case("zero workers", (*R, "--workers", "0", "--out", "{tmp}/o"), "--workers"),
    Case("negative workers", (*R, "--workers", "-3", "--out", "{tmp}/o"), "--workers"),
    Case("unknown executor", (*R, "--executor", "spark", "--out", "{tmp}/o"), "--executor"),
    Case("--address without ray", (*R, "--address", "10.0.0.1:6379", "--out", "{tmp}/o"), "--address"),
    Case("malformed --bench-opt", (*R, "--bench-opt", "noequals", "--out", "{tmp}/o"), "--bench-opt"),
    Case("unknown bench option", (*R, "--bench-opt", "colour=red", "--out", "{tmp}/o"), "colour"),
    Case("unknown latency device", (*R, "--bench-opt", "latency_device=nope", "--out", "{tmp}/o"), "latency_device"),
    Case("latency limit without device", (*R, "--bench-opt", "latency_limit_ms=5", "--out", "{tmp}/o"),
         "latency_device"),
    Case("missing checkpoint", ("run", "--bench", "supernet", "--checkpoint", "{tmp}/none.pt", "--out", "{tmp}/o"),
         "none.pt"),
    Case("bad cache budget", ("run", "--bench", "supernet", "--config", "mnist-small", "--cache-mb", "lots",
                              "--out", "{tmp}/o"), "cache"),
    Case("sample rate above 1", ("run", "--bench", "supernet", "--config", "mnist-small", "--sample-rate", "2",
                                 "--out", "{tmp}/o"), "sample"),
    Case("unknown flag", ("run", "--frobnicate", "--out", "{tmp}/o"), "--frobnicate"),
    Case("stale run in --out", ("run", "--bench", "toy", "--method", "random", "--seeds", "0", "--budget", "5evals",
                                "--set", "nothing=1", "--out", "{prev}"), "nothing"),
    Case("changed budget over a finished run", ("run", "--bench", "toy", "--method", "random", "--seeds", "0",
                                                "--budget", "6evals", "--workers", "1", "--out", "{prev}"),
         "budget"),
    # ---- nasrepro correlate
    Case("correlate: negative --archs", ("correlate", "--archs", "-5", "--out", "{tmp}/c"), "--archs"),
    Case("correlate: malformed --archs", ("correlate", "--archs", "some", "--out", "{tmp}/c"), "--archs"),
    Case("correlate: unknown proxy", ("correlate", "--archs", "3", "--proxies", "nope", "--out", "{tmp}/c"),
         "nope"),
    Case("correlate: unknown vote proxy", ("correlate", "--archs", "3", "--vote", "nope,synflow", "--out", "{tmp}/c"),
         "nope"),
    Case("correlate: --out is a file", ("correlate", "--archs", "3", "--out", "{file}"), "--out"),
    Case("correlate: unknown dataset", ("correlate", "--dataset", "svhn", "--archs", "3", "--out", "{tmp}/c"),
         "svhn"),
    Case("correlate: zero batch", ("correlate", "--archs", "3", "--batch", "0", "--out", "{tmp}/c"), "--batch"),
    Case("correlate: missing images", ("correlate", "--archs", "3", "--images", "{tmp}/none.npz", "--out",
                                       "{tmp}/c"), "none.npz"),
    Case("correlate: truncated images", ("correlate", "--archs", "3", "--images", "{tmp}/truncated.npz", "--out",
                                         "{tmp}/c"), "truncated.npz"),
    # ---- nasrepro supernet train
    Case("supernet: unknown config", ("supernet", "train", "--config", "nope", "--out", "{tmp}/s"), "--config"),
    Case("supernet: zero steps", ("supernet", "train", "--config", "mnist-small", "--steps", "0", "--out",
                                  "{tmp}/s"), "steps"),
    Case("supernet: --out is a file", ("supernet", "train", "--config", "mnist-small", "--out", "{file}"), "--out"),
    Case("supernet: negative lr", ("supernet", "train", "--config", "mnist-small", "--lr", "-1", "--out", "{tmp}/s"),
         "lr"),
    Case("supernet: zero batch", ("supernet", "train", "--config", "mnist-small", "--batch-size", "0", "--out",
                                  "{tmp}/s"), "batch size"),
    # ---- nasrepro data convert
    Case("convert: missing source", ("data", "convert", "{tmp}/none.pth", "{tmp}/out.npz"), "none.pth"),
    Case("convert: accuracy of 150", ("data", "convert", "{tmp}/acc150.csv", "{tmp}/out.npz"), "acc150.csv"),
    Case("convert: destination is a folder", ("data", "convert", "{tmp}/acc150.csv", "{tmp}"), ".npz"),
    # ---- nasrepro reproduce ...
    Case("nb201-baselines: zero runs", ("reproduce", "nb201-baselines", "--runs", "0", "--out", "{tmp}/r"), "--runs"),
    Case("nb201-baselines: zero budget", ("reproduce", "nb201-baselines", "--budget", "0", "--out", "{tmp}/r"),
         "budget"),
    Case("nb201-baselines: --out is a file", ("reproduce", "nb201-baselines", "--runs", "2", "--out", "{file}"),
         "--out"),
    Case("zc-search: descending seeds", ("reproduce", "zc-search", "--seeds", "5-2", "--proxy", "params",
                                         "--out", "{tmp}/z"), "--seeds"),
    Case("zc-search: unknown method", ("reproduce", "zc-search", "--methods", "RS,bad", "--proxy",
                                       "params", "--out", "{tmp}/z"), "bad"),
    Case("pcf-es: threshold above 1", ("reproduce", "pcf-es", "--threshold", "2", "--out", "{tmp}/p"), "threshold"),
    Case("pcf-es: zero generations", ("reproduce", "pcf-es", "--generations", "0", "--out", "{tmp}/p"),
         "generations"),
    Case("fnas: unknown variant", ("reproduce", "fnas", "--variants", "nope", "--out", "{tmp}/f"), "nope"),
    Case("fnas: malformed seeds", ("reproduce", "fnas", "--seeds", "abc", "--out", "{tmp}/f"), "--seeds"),
    Case("spos-search: one seed", ("reproduce", "spos-search", "--seeds", "3", "--out", "{tmp}/s"), "seeds"),
    Case("spos-search: one evaluation", ("reproduce", "spos-search", "--evals", "1", "--out", "{tmp}/s"), "--evals"),
    Case("rea-freeze: threshold above 1", ("reproduce", "rea-freeze", "--threshold", "2", "--out", "{tmp}/rf"),
         "--threshold"),
    Case("rea-freeze: fewer evaluations than a window", ("reproduce", "rea-freeze", "--evals", "0",
                                                          "--out", "{tmp}/rf"), "--evals"),
    Case("rea-freeze: unknown config", ("reproduce", "rea-freeze", "--config", "nope", "--out", "{tmp}/rf"),
         "nope"),
    Case("hw-search: unknown device", ("reproduce", "hw-search", "--devices", "nope", "--out", "{tmp}/h"), "nope"),
    Case("hw-search: quantile above 1", ("reproduce", "hw-search", "--quantiles", "2", "--out", "{tmp}/h"),
         "--quantiles"),
    Case("hw-search: unknown method", ("reproduce", "hw-search", "--methods", "XYZ", "--out", "{tmp}/h"),
         "--methods"),
    Case("method-matrix: zero evals", ("reproduce", "method-matrix", "--evals", "0", "--out", "{tmp}/m"), "--evals"),
    Case("zc-correlation: unknown proxy", ("reproduce", "zc-correlation", "--proxies", "nope", "--out", "{tmp}/zc"),
         "nope"),
    Case("zc-correlation: --out is a file", ("reproduce", "zc-correlation", "--out", "{file}"), "--out"),
    Case("unknown reproduction", ("reproduce", "nope"), "nope"),
    # ---- nasrepro list, demo, index, speed
    Case("list: unknown option", ("list", "--all"), "--all"),
    Case("demo: zero evals", ("demo", "--evals", "0", "--out", "{tmp}/d"), "--evals"),
    Case("demo: zero seeds", ("demo", "--seeds", "0", "--out", "{tmp}/d"), "--seeds"),
    Case("demo: --out is a file", ("demo", "--out", "{file}"), "--out"),
    Case("index: missing folder", ("index", "--results", "{tmp}/none"), "--results"),
    Case("speed: unknown benchmark", ("speed", "nope"), "nope"),
    Case("speed runs: zero runs", ("speed", "runs", "--runs", "0", "--out", "{tmp}/sp"), "--runs"),
]


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _setup(tmp: Path) -> dict[str, str]:
    """A finished run folder, a plain file, and broken inputs to point flags at."""
    from nasrepro.reproduce.cli import main

    prev = tmp / "prev"
    with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
        assert main(["run", "--bench", "toy", "--method", "random", "--seeds", "0", "--budget", "5evals",
                     "--workers", "1", "--out", str(prev)]) == 0
    (tmp / "plain.txt").write_text("not a folder\n")
    np.savez(tmp / "full.npz", x=np.zeros((4, 8, 8, 3), np.uint8), y=np.zeros(4, np.int64))
    (tmp / "truncated.npz").write_bytes((tmp / "full.npz").read_bytes()[:100])
    (tmp / "acc150.csv").write_text("index,arch,cifar10_val_12,cifar10_test_200\n"
                                    "0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,150.0,10.0\n")
    return {"prev": str(prev), "tmp": str(tmp), "file": str(tmp / "plain.txt")}


def run_case(case: Case, where: dict[str, str]) -> tuple[int, str]:
    from nasrepro.reproduce.cli import main

    argv = [a.format(**where) for a in case.argv]
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            rc = int(exc.code or 0)
    return rc, err.getvalue()


def _error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.replace("\r", "\n").splitlines() if ln.startswith("error:")]


@pytest.fixture(scope="module")
def where(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _setup(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case: Case, where: dict[str, str]) -> None:
    before = _digest(Path(where["tmp"]))
    rc, stderr = run_case(case, where)
    lines = _error_lines(stderr)
    assert "Traceback" not in stderr, stderr
    assert rc == 2 and len(lines) == 1, f"exit {rc}, stderr: {stderr!r}"
    assert case.expect.lower() in lines[0].lower(), lines[0]
    after = {k: v for k, v in _digest(Path(where["tmp"])).items() if k in before}
    assert after == before  # nothing previously written changed (new scratch files may appear)


def test_there_are_at_least_60_cases_over_every_command() -> None:
    from nasrepro.reproduce.cli import build_parser

    assert len(CASES) >= 60
    commands = {c.argv[0] for c in CASES}
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) <= commands, set(sub.choices) - commands
    reps = {c.argv[1] for c in CASES if c.argv[0] == "reproduce"}
    rep = next(a for a in sub.choices["reproduce"]._actions if a.dest == "reproduction")
    assert set(rep.choices) <= reps, set(rep.choices) - reps


@pytest.mark.parametrize("code, word", [(errno.ENOSPC, "No space left"), (errno.EACCES, "Permission denied")])
def test_disk_full_and_permission_denied_are_one_line(tmp_path, monkeypatch, code: int, word: str) -> None:
    """A write that fails mid-grid (disk full, permission lost) is one line naming the file; the runs
    already written stay as they were."""
    import nasrepro.bench.io

    where = _setup(tmp_path)
    before = _digest(Path(where["prev"]))
    real = nasrepro.bench.io.atomic_write_bytes

    def failing(path: Path | str, data: bytes, durable: bool = True) -> None:
        if "seed1" in str(path):
            raise OSError(code, os.strerror(code), str(path))
        real(path, data, durable)

    monkeypatch.setattr(nasrepro.bench.io, "atomic_write_bytes", failing)
    case = Case("write fails", ("run", "--bench", "toy", "--method", "random", "--seeds", "0-2", "--budget",
                                "5evals", "--workers", "1", "--out", "{prev}"), "seed1")
    rc, stderr = run_case(case, where)
    lines = _error_lines(stderr)
    assert rc == 2 and len(lines) == 1 and "Traceback" not in stderr, stderr
    assert word in lines[0] and "seed1" in lines[0]
    assert {k: v for k, v in _digest(Path(where["prev"])).items() if k in before} == before


def _table(where: dict[str, str], cases: list[Case]) -> str:
    rows = ["| # | command | case | exit | error line |", "|---|---|---|---|---|"]
    for i, case in enumerate(cases, 1):
        rc, stderr = run_case(case, where)
        lines = _error_lines(stderr) or ["(none)" if "Traceback" not in stderr else "TRACEBACK"]
        rows.append(f"| {i} | {case.argv[0]} | {case.name} | {rc} | {lines[0].replace('|', '/')[:160]} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # the table for a closing note: python tests/test_bad_inputs.py
    import tempfile

    sys.path.insert(0, str(ROOT))
    print(_table(_setup(Path(tempfile.mkdtemp())), CASES))
