"""Commands import what they use: `nasrepro --help` and a tabular search work with torch unimportable.

A folder with a ``torch`` package whose import raises ``ImportError`` is put first on PYTHONPATH (it
shadows the installed torch in the command and in any worker process it starts). Each attempt to
import it appends the importing process's id to a marker file, so the test also sees *who* tried.
No timing is asserted here; `nasrepro speed startup` measures time and memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_BLOCKER = '''import os
with open(os.environ["NASREPRO_TORCH_MARKER"], "a") as fh:
    fh.write(f"{os.getpid()}\\n")
raise ImportError("torch is blocked by tests/test_startup.py")
'''


def _run_without_torch(tmp_path: Path, *argv: str) -> tuple[subprocess.CompletedProcess[str], set[int], int]:
    """(finished process, ids of the processes that tried to import torch, the command's process id)."""
    fake = tmp_path / "no_torch"
    (fake / "torch").mkdir(parents=True, exist_ok=True)
    (fake / "torch" / "__init__.py").write_text(_BLOCKER)
    marker = tmp_path / "torch_attempts.txt"
    marker.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "NASREPRO_DATA"}  # the embedded table: no data needed
    env.update(PYTHONPATH=str(fake), NASREPRO_TORCH_MARKER=str(marker), OMP_NUM_THREADS="1")
    with subprocess.Popen([sys.executable, "-m", "nasrepro.reproduce.cli", *argv], cwd=ROOT, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as popen:
        out, err = popen.communicate(timeout=300)
    proc = subprocess.CompletedProcess(popen.args, popen.returncode, out, err)
    pids = {int(x) for x in marker.read_text().split()} if marker.exists() else set()
    return proc, pids, popen.pid


def test_blocker_blocks(tmp_path: Path) -> None:
    # the fake package must really shadow torch, or the tests below prove nothing
    proc, _, _ = _run_without_torch(tmp_path, "list")
    assert proc.returncode == 0, proc.stderr
    fake = tmp_path / "no_torch"
    env = dict(os.environ, PYTHONPATH=str(fake), NASREPRO_TORCH_MARKER=str(tmp_path / "m.txt"))
    probe = subprocess.run([sys.executable, "-c", "import torch"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "blocked by tests/test_startup.py" in probe.stderr


def test_help_without_torch(tmp_path: Path) -> None:
    proc, pids, _ = _run_without_torch(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "reproduce" in proc.stdout and "speed" in proc.stdout
    assert not pids, "nasrepro --help tried to import torch"


def test_tabular_rea_run_without_torch(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc, pids, pid = _run_without_torch(tmp_path, "run", "--bench", "nb201", "--method", "rea", "--seeds", "0-1",
                                         "--budget", "20evals", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "summary.csv").exists()
    assert (out / "rea" / "seed0.jsonl").is_file() and (out / "rea" / "seed1.jsonl").is_file()
    assert pid not in pids, "the nasrepro process tried to import torch for a tabular run"
    assert not pids, f"worker processes {sorted(pids)} tried to import torch for a tabular run"


def test_tabular_rea_run_one_process_never_tries_torch(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc, pids, _ = _run_without_torch(tmp_path, "run", "--bench", "nb201", "--method", "rea", "--seeds", "0-1",
                                       "--budget", "20evals", "--workers", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert not pids, "a single-process tabular run tried to import torch"
