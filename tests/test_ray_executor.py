"""--executor ray: the files a Ray cluster writes are the local pool's, byte for byte, also after a worker
or the driver is killed mid-grid; proxy scoring through Ray fills the same store.

One local Ray instance (2 CPUs, no dashboard) is shared by the module; the driver-kill test connects a
second driver to it with --address. Skipped when Ray is not installed (CI installs the ray extra).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from nasrepro.bench.runner import RunSpec, run_grid

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("rea", "random", "reinforce")
SEEDS = range(20)
BUDGET = "300evals"  # ~0.1-0.2 s a run: long enough for a kill to land mid-grid
OPTIONS = (("table", "embedded"),)
SPECS = [RunSpec("nb201", m, s, BUDGET, OPTIONS) for m in METHODS for s in SEEDS]


@pytest.fixture(scope="module")
def ray_address():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]'; CI installs it)")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, _node_ip_address="127.0.0.1")
    try:
        address = ray.get_runtime_context().gcs_address
        assert address.startswith("127.0.0.1:"), address  # loopback only
        yield address
    finally:
        ray.shutdown()


def _checkout() -> str:
    """HEAD and whether tracked files differ from it: what a run's meta records as ``code.commit``."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout

    return git("rev-parse", "HEAD") + str(bool(git("status", "--porcelain", "--untracked-files=no").strip()))


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory) -> tuple[Path, str]:
    """The reference: the same grid through the local process pool (forked before Ray starts: tests ask
    for this fixture first), and the checkout it ran on."""
    out = tmp_path_factory.mktemp("local")
    state = _checkout()
    run_grid(SPECS, out, workers=2, progress=False)
    return out, state


def _files(out: Path, drop_commit: bool = False) -> dict[str, bytes]:
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("seed*.jsonl"))}
    if drop_commit:  # the meta line's code.commit only: every other byte is still compared
        files = {k: re.sub(rb'"commit": "[^"]*"', b'"commit": ""', v, count=1) for k, v in files.items()}
    return files


def _assert_same_grid(out: Path, reference: tuple[Path, str]) -> None:
    ref, state = reference
    # Byte for byte; only when someone committed (or cleaned the tree) in this checkout since the
    # reference ran, as happens on a shared working tree, is the recorded commit left out.
    moved = _checkout() != state
    got, want = _files(out, moved), _files(ref, moved)
    assert sorted(got) == sorted(want) and len(want) == len(SPECS)
    assert [k for k in want if got[k] != want[k]] == []
    # every run has its timing sidecar, and nothing half-written is left
    assert sorted(p.relative_to(out) for p in out.rglob("*.ledger.json")) == \
        sorted(p.relative_to(ref) for p in ref.rglob("*.ledger.json"))
    assert not list(out.rglob("*.tmp"))


def _task_workers() -> list[int]:
    """Pids of Ray workers running one of our tasks now (process title ``ray::nasrepro-task``)."""
    from nasrepro.bench.ray_executor import TASK_NAME

    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().startswith(f"ray::{TASK_NAME}".encode()):
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def test_ray_grid_is_byte_identical_to_the_local_pool(local_grid, ray_address, tmp_path):
    out = tmp_path / "ray"
    paths = run_grid(SPECS, out, workers=2, progress=False, executor="ray")
    assert paths == [s.path(out) for s in SPECS]
    _assert_same_grid(out, local_grid)


def test_worker_killed_mid_grid_is_retried_nothing_lost_or_duplicated(local_grid, ray_address, tmp_path,
                                                                      monkeypatch):
    from nasrepro.bench import runner

    out = tmp_path / "ray"
    writes: list[Path] = []
    real_write = runner.write_result

    def counting_write(spec, out_dir, rows, timing):
        writes.append(spec.path(out_dir))
        return real_write(spec, out_dir, rows, timing)

    monkeypatch.setattr(runner, "write_result", counting_write)
    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:  # once some runs are written, SIGKILL a worker in the middle of a task
        while not stop.is_set() and not killed:
            if len(writes) >= 5:
                for pid in _task_workers():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        continue
                    killed.append(pid)
                    break
            time.sleep(0.01)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        run_grid(SPECS, out, workers=2, progress=False, executor="ray")
    finally:
        stop.set()
        thread.join()
    assert killed, "no worker was killed mid-grid"
    assert len(writes) == len(SPECS) == len(set(writes))  # each run written exactly once
    _assert_same_grid(out, local_grid)


def _cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "nasrepro.reproduce.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_driver_killed_mid_grid_resumes_to_the_uninterrupted_files(local_grid, ray_address, tmp_path):
    out = tmp_path / "killed"
    args = ["run", "--bench", "nb201", "--bench-opt", "table=embedded", "--method", ",".join(METHODS),
            "--seeds", f"{SEEDS[0]}-{SEEDS[-1]}", "--budget", BUDGET, "--executor", "ray",
            "--address", ray_address, "--out", str(out)]
    proc = _cli(*args)
    deadline = time.time() + 300
    while len(list(out.rglob("seed*.jsonl"))) < 5 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(list(out.rglob("seed*.jsonl")))
    assert 0 < n_before < len(SPECS), "the kill did not land mid-grid"
    proc = _cli(*args)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    _assert_same_grid(out, local_grid)


def test_proxy_scoring_through_ray_fills_the_local_store(ray_address, tmp_path):
    from nasrepro.bench.proxies.store import read_scores
    from nasrepro.reproduce.cmd_correlate import parse_archs, score_archs

    cells = parse_archs("8", 0)
    kw = {"batch": 8, "progress": False}
    score_archs(cells, "cifar10", "mnist", ("params", "synflow"), 0, tmp_path / "local", **kw)
    score_archs(cells, "cifar10", "mnist", ("params", "synflow"), 0, tmp_path / "ray", workers=2,
                executor="ray", **kw)
    (m1, f1), (m2, f2) = read_scores(tmp_path / "local" / "scores.csv"), read_scores(tmp_path / "ray" / "scores.csv")
    assert m1 == m2
    cols = ["index", "arch", "params", "synflow"]
    f1, f2 = (f[cols].sort_values("index").reset_index(drop=True) for f in (f1, f2))
    assert len(f1) == 8 and f1.equals(f2)
    # resumed: a second call finds every cell done and appends nothing
    before = (tmp_path / "ray" / "scores.csv").read_bytes()
    score_archs(cells, "cifar10", "mnist", ("params", "synflow"), 0, tmp_path / "ray", workers=2,
                executor="ray", **kw)
    assert (tmp_path / "ray" / "scores.csv").read_bytes() == before


def test_an_error_in_a_task_arrives_as_itself(ray_address):
    from nasrepro.bench.ray_executor import RayExecutor

    with RayExecutor(workers=2) as ex, pytest.raises(ValueError, match="invalid literal"):
        list(ex.imap_unordered(int, ["1", "x"]))


def test_gpu_hint_only_for_training_benchmarks_on_a_gpu_cluster():
    from nasrepro.bench.ray_executor import task_resources

    live, table = RunSpec("nb201-live", "rea", 0, "5evals"), RunSpec("nb201", "rea", 0, "5evals")
    assert task_resources(live, gpus=True) == {"num_cpus": 1, "num_gpus": 1}
    assert task_resources(RunSpec("supernet", "pcf-es", 0, "5evals"), gpus=True)["num_gpus"] == 1
    assert task_resources(table, gpus=True) == {"num_cpus": 1}
    assert task_resources(live, gpus=False) == {"num_cpus": 1}
    assert task_resources((1, 2, 3), gpus=True) == {"num_cpus": 1}  # a chunk of cells


def test_without_ray_the_error_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    from nasrepro.reproduce.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    rc = main(["run", "--bench", "nb201", "--bench-opt", "table=embedded", "--method", "random", "--budget",
               "5evals", "--executor", "ray", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == 'error: --executor ray needs Ray: pip install -e ".[ray]"'
    rc = main(["correlate", "--archs", "2", "--images", "mnist", "--executor", "ray", "--out", str(tmp_path / "z")])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == 'error: --executor ray needs Ray: pip install -e ".[ray]"'


def test_speed_executors_on_tiny_settings(tmp_path):
    import csv

    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]'; CI installs it)")

    from nasrepro.reproduce.cli import main

    argv = ["speed", "executors", "--runs", "3", "--budget", "10evals", "--cells", "2", "--noop-tasks", "5",
            "--out", str(tmp_path)]
    assert main(argv) == 0
    with open(tmp_path / "executors.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["way"], r["phase"]) for r in rows] == [
        ("local", "grid"), ("local", "scoring"), ("local", "noop"),
        ("ray", "startup"), ("ray", "grid"), ("ray", "scoring"), ("ray", "noop")]
    md = (tmp_path / "executors.md").read_text()
    # byte for byte; only a commit made in this checkout between the two processes may differ
    assert re.search(r"trajectories byte-identical( except the git commit [^(]*\([^)]*\))? \(3 files x 2 "
                     r"processes\), scores identical \(2 cells x 2 processes; their 1 scoring runs byte-identical", md), md
    assert "<summary>Provenance</summary>" in md and (tmp_path / "executors.csv.provenance.json").is_file()


def test_an_address_where_no_cluster_answers_is_one_line(tmp_path, capsys):
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]'; CI installs it)")
    import socket

    from nasrepro.reproduce.cli import main

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc = main(["run", "--bench", "nb201", "--bench-opt", "table=embedded", "--method", "random", "--budget", "5evals",
               "--executor", "ray", "--address", f"127.0.0.1:{port}", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error: --address 127.0.0.1:{port}: no Ray cluster answers there")
    assert len(err.strip().splitlines()) == 1
