"""Correlation, the notebook's vote, --archs parsing and the `nasrepro correlate` command."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nasrepro.bench.proxies.benchmark import normalise_dataset
from nasrepro.bench.proxies.correlation import correlation_table, vote_agreement
from nasrepro.reproduce.cmd_correlate import NB201_SIZE, parse_archs, parse_shard


def _notebook_vote(metrics: list[np.ndarray], acc: np.ndarray) -> float:
    """The double loop of notebooks/nasbench201_correlations.ipynb, written out."""
    right = tot = 0
    for i, j in itertools.product(range(len(acc)), repeat=2):
        if i == j or acc[i] - acc[j] == 0:
            continue
        numpos = sum(1 if m[i] - m[j] > 0 else 0 for m in metrics)
        sign = 1 if numpos >= len(metrics) / 2 else -1
        right += 1 if sign * (acc[i] - acc[j]) > 0 else 0
        tot += 1
    return right / tot


def test_vote_matches_notebook_loop_with_ties() -> None:
    rng = np.random.default_rng(0)
    n = 40
    acc = rng.integers(0, 8, n).astype(float)  # many accuracy ties
    metrics = [rng.integers(0, 5, n).astype(float) for _ in range(3)]  # and metric ties
    frac, used, dropped = vote_agreement(metrics, acc, block=7)
    assert (used, dropped) == (n, 0)
    assert frac == pytest.approx(_notebook_vote(metrics, acc), abs=1e-12)


def test_vote_drops_nonfinite_and_perfect_proxies_score_one() -> None:
    acc = np.arange(10.0)
    good = [acc * 2, acc + 1, np.exp(acc / 5)]
    assert vote_agreement(good, acc)[0] == 1.0
    bad = [m.copy() for m in good]
    bad[1][3] = np.nan
    frac, used, dropped = vote_agreement(bad, acc)
    assert (frac, used, dropped) == (1.0, 9, 1)


def test_correlation_table_signed_abs_and_dropped() -> None:
    acc = np.linspace(50, 90, 50)
    frame = pd.DataFrame({"synflow": acc ** 2, "jacob_cov": acc.copy(), "snip": -acc})
    frame.loc[4, "jacob_cov"] = np.nan
    t = correlation_table(frame, acc, ["synflow", "jacob_cov", "snip"]).set_index("proxy")
    assert t.loc["synflow", "spearman"] == pytest.approx(1.0)
    assert t.loc["snip", "spearman"] == pytest.approx(-1.0) and t.loc["snip", "abs_spearman"] == pytest.approx(1.0)
    assert t.loc["jacob_cov", "n_archs"] == 49 and t.loc["jacob_cov", "n_dropped"] == 1
    assert t.loc["synflow", "top10_precision"] == 1.0 and t.loc["snip", "top10_precision"] == 0.0
    assert math.isnan(t.loc["vote", "spearman"]) and 0 <= t.loc["vote", "vote_agreement"] <= 1


def test_parse_archs_and_shard(tmp_path: Path) -> None:
    a, b = parse_archs("20", 0), parse_archs("50", 0)
    assert len(set(a)) == 20 and b[:20] == a  # a larger N extends a smaller one
    assert parse_archs("20", 1) != a
    assert parse_archs("all", 0) == list(range(NB201_SIZE))
    f = tmp_path / "idx.txt"
    f.write_text("5\n3 # comment\n\n5\n")
    assert parse_archs(str(f), 0) == [5, 3]
    f.write_text("5\n15625\n")
    with pytest.raises(ValueError, match="line 2"):
        parse_archs(str(f), 0)
    with pytest.raises(FileNotFoundError):
        parse_archs(str(tmp_path / "none.txt"), 0)
    with pytest.raises(ValueError):
        parse_archs("0", 0)
    assert parse_shard("1/3") == (1, 3) and parse_shard(None) == (0, 1)
    with pytest.raises(ValueError):
        parse_shard("3/3")
    assert normalise_dataset("ImageNet16-120") == "imagenet16-120"
    with pytest.raises(ValueError, match="unknown dataset"):
        normalise_dataset("svhn")


def _npz(path: Path, n: int = 16, hw: int = 32, gray: bool = False) -> Path:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, hw, hw) if gray else (n, hw, hw, 3), dtype=np.uint8)
    np.savez(path, x=x, y=rng.integers(0, 10, n))
    return path


def test_cli_bad_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nasrepro.reproduce.cli import main

    images = _npz(tmp_path / "imgs.npz")
    assert main(["correlate", "--proxies", "snip,bogus", "--images", str(images), "--out", str(tmp_path / "o")]) == 2
    assert "unknown proxy 'bogus'" in capsys.readouterr().err
    gray = _npz(tmp_path / "gray.npz", gray=True)
    rc = main(["correlate", "--archs", "2", "--batch", "4", "--proxies", "synflow", "--images", str(gray),
               "--out", str(tmp_path / "o2")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1


def test_cli_end_to_end_and_resume(tmp_path: Path, nb201_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nasrepro.bench.proxies.store import read_scores
    from nasrepro.reproduce.cli import main

    images = _npz(tmp_path / "imgs.npz")
    out = tmp_path / "out"
    args = ["correlate", "--archs", "4", "--batch", "8", "--proxies", "synflow,jacob_cov,snip,params", "--images",
            str(images), "--seed", "0", "--out", str(out), "--quiet"]
    assert main(args) == 0
    meta, frame = read_scores(out / "scores.csv")
    assert len(frame) == 4 and meta["batch"] == 8 and meta["proxies"] == ["synflow", "jacob_cov", "snip", "params"]
    corr = pd.read_csv(out / "correlation.csv")
    assert list(corr["proxy"]) == ["synflow", "jacob_cov", "snip", "params", "vote"]
    assert {"spearman", "abs_spearman", "kendall", "abs_kendall", "top10_precision", "n_archs", "n_dropped"} <= set(corr.columns)
    before = (out / "scores.csv").read_text()
    assert main(args) == 0  # everything done: nothing rescored
    assert (out / "scores.csv").read_text() == before
    from nasrepro.reproduce.cmd_correlate import score_archs

    done = [int(frame["index"].iloc[0])]
    score_archs(done, "cifar10", str(images), ("synflow",), 0, out, batch=8, progress=False)  # held: resumed
    assert (out / "scores.csv").read_text() == before and not list(out.glob("scores-*.csv"))
    with pytest.raises(ValueError, match="other settings"):
        score_archs([1], "cifar10", str(images), ("synflow",), 0, out, batch=4, progress=False)
    capsys.readouterr()


def test_scoring_is_runs_of_the_one_runner(tmp_path: Path) -> None:
    """Cells are scored by `fixed` runs on the nb201-zc benchmark: resumed run by run, a run made with
    other settings is refused (and recomputed with redo_stale), the store is rebuilt from the runs."""
    from nasrepro.bench.proxies.store import read_scores
    from nasrepro.bench.runner import StaleRunError, load_run
    from nasrepro.reproduce.cmd_correlate import CHUNK, score_archs

    images = _npz(tmp_path / "imgs.npz")
    cells = list(range(CHUNK + 2))  # two runs: CHUNK cells and 2
    out = tmp_path / "out"
    score_archs(cells, "cifar10", str(images), ("synflow", "params"), 0, out, batch=4, progress=False)
    runs = sorted((out / "runs" / "scores").rglob("seed0.jsonl"))
    assert len(runs) == 2
    run = load_run(runs[0])
    assert run["meta"]["settings"]["bench"] == "nb201-zc" and run["meta"]["settings"]["method"] == "fixed"
    assert run["meta"]["settings"]["data"]["images"].startswith("sha256:")
    assert [s["cost_s"] for s in run["steps"]] == [0.0] * CHUNK  # measured seconds: the ledger, not the trajectory
    _, frame = read_scores(out / "scores.csv")
    assert list(frame["index"]) == cells and frame["seconds"].notna().all()
    first = {s["extra"]["index"]: s["extra"]["scores"]["synflow"] for s in run["steps"]}
    assert all(frame.set_index("index").loc[i, "synflow"] == v for i, v in first.items())
    store = (out / "scores.csv").read_text()

    # the store lost, one run lost: only that run is recomputed, and the store comes back the same
    (out / "scores.csv").unlink()
    stamp = runs[0].stat().st_mtime_ns
    runs[1].unlink()
    score_archs(cells, "cifar10", str(images), ("synflow", "params"), 0, out, batch=4, progress=False)
    assert runs[0].stat().st_mtime_ns == stamp and runs[1].is_file()
    new = read_scores(out / "scores.csv")[1]
    assert new.drop(columns=["seconds", "cpu_seconds"]).equals(frame.drop(columns=["seconds", "cpu_seconds"]))
    assert (out / "scores.csv").read_text().splitlines()[1] == store.splitlines()[1]  # run 0's rows: its ledger

    # a run made with other settings (here: another package version) is refused, then redone
    lines = runs[0].read_text().splitlines(keepends=True)
    meta = json.loads(lines[0])
    meta["settings"]["version"] = "0.0.0"
    runs[0].write_text(json.dumps(meta, sort_keys=True) + "\n" + "".join(lines[1:]))
    (out / "scores.csv").unlink()
    with pytest.raises(StaleRunError, match=r"version: '0.0.0' in the file"):
        score_archs(cells, "cifar10", str(images), ("synflow", "params"), 0, out, batch=4, progress=False)
    score_archs(cells, "cifar10", str(images), ("synflow", "params"), 0, out, batch=4, progress=False, redo_stale=True)
    assert read_scores(out / "scores.csv")[1]["synflow"].equals(frame["synflow"])


def test_repro_outputs_label_stand_ins_and_published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nasrepro.bench.reference import reference_dir
    from nasrepro.reproduce import repro_zc_correlation as repro

    found = reference_dir()
    ref = found if found is not None and (found / "zc_nb201_repo_notebook.csv").is_file() else tmp_path / "none"
    if ref.is_dir():
        monkeypatch.setenv("NASREPRO_REFERENCE", str(ref))
    else:  # no published numbers here (a clone without shared/): a missing folder would be an error
        monkeypatch.delenv("NASREPRO_REFERENCE", raising=False)
    acc = np.linspace(60, 90, 30)
    frame = pd.DataFrame({p: acc + np.random.default_rng(i).normal(0, 5, 30) for i, p in enumerate(repro.TABLE1)})
    tables = []
    for ds, prov in (("cifar10", "CIFAR-10 train (real)"), ("cifar100", "stand-in: 5 classes")):
        t = correlation_table(frame, acc, list(repro.TABLE1))
        t.insert(0, "dataset", ds)
        t["images"], t["stand_in"] = prov, "stand-in" in prov
        t["sec_per_cell"], t["cpu_sec_per_cell"], t["abs_spearman_vs_c10valid_test"] = 1.0, 0.9, np.nan
        tables.append(t)
    summary = repro.summarise(tables)
    repro.write_outputs(summary, tmp_path, "30", 0)
    md = (tmp_path / "zc_correlation.md").read_text()
    assert "## cifar100 — **STAND-IN images" in md and "## cifar10\n" in md
    assert (tmp_path / "zc_correlation.png").stat().st_size > 0
    out = pd.read_csv(tmp_path / "zc_correlation.csv")
    vote = out[(out["dataset"] == "cifar10") & (out["proxy"] == "vote")].iloc[0]
    assert vote["ours"] == vote["vote_agreement"]
    if ref.is_dir():
        syn = out[(out["dataset"] == "cifar10") & (out["proxy"] == "synflow")].iloc[0]
        assert syn["published_notebook"] == pytest.approx(0.737) and syn["published_paper_2ndhand"] == pytest.approx(0.74)
        assert vote["published_notebook"] == pytest.approx(0.817, abs=1e-3)
        assert syn["gap_vs_notebook"] == pytest.approx(syn["ours"] - 0.737)
