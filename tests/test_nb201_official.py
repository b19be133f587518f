"""Official NB201 / NATS-tss backends: small files in the exact official formats (written by
``tests/nb201_fixtures.py``) load in the official APIs, and the compact table converted from
them answers what the official API answers, for every cell, data set, accuracy and time."""

from __future__ import annotations

import bz2
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import nb201_fixtures as fx  # noqa: E402
from nasrepro.bench.nb201 import official  # noqa: E402
from nasrepro.bench.nb201.tables import load_compact, load_table  # noqa: E402
from nasrepro.reproduce.cli import main  # noqa: E402

INDICES = (0, 1, 5, 123, 7777, 15624)
RTOL = 2e-6  # the compact table stores float32


@pytest.fixture(scope="module", autouse=True)
def synthetic_files_allowed() -> object:
    """The fixture files carry the official names but are synthetic, a few cells each: skip the
    checksums their names promise and accept partial tables (tests/test_data_validation.py checks both)."""
    import nasrepro.bench.checksums
    import nasrepro.bench.nb201.tables

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nasrepro.bench.checksums, "KNOWN", {k: v for k, v in nasrepro.bench.checksums.KNOWN.items()
                                               if not k.startswith("NAS-Bench-201")})
        mp.setattr(nasrepro.bench.nb201.tables, "ALLOW_PARTIAL", True)
        yield


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("official")
    return {
        "v1_1": fx.write_nb201_pth(root / "NAS-Bench-201-v1_1-096897.pth", INDICES, version="v1_1", seed=1),
        "v1_1-zip": fx.write_nb201_pth(root / "zip" / "NAS-Bench-201-v1_1-096897.pth", INDICES[:3],
                                       version="v1_1", seed=2, zip_format=True),
        "v1_0": fx.write_nb201_pth(root / "NAS-Bench-201-v1_0-e61699.pth", INDICES[:4], version="v1_0", seed=3,
                                   realistic_seed_counts=True),
        "nats-simple": fx.write_nats_tss(root / "nats", INDICES, simple=True, seed=4),
        "nats-full": fx.write_nats_tss(root / "nats", INDICES[:4], simple=False, seed=5),
    }


@pytest.fixture(scope="module")
def apis(files: dict[str, Path]) -> dict[str, object]:
    return {name: official.load_api(path) for name, path in files.items()}


def test_official_apis_load_the_fixture_files(files: dict[str, Path], apis: dict[str, object]) -> None:
    from nas_201_api import NASBench201API
    from nats_bench.api_topology import NATStopology

    for name in ("v1_1", "v1_1-zip", "v1_0"):
        assert isinstance(apis[name], NASBench201API) and len(apis[name]) == 15625
    assert list(apis["v1_1"].evaluated_indexes) == list(INDICES)
    for name in ("nats-simple", "nats-full"):
        assert isinstance(apis[name], NATStopology) and len(apis[name]) == 15625
    # official index order: the file's meta_archs are our index_to_arch strings
    assert apis["v1_1"].meta_archs[0] == (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    )
    # the official protocol call works on every format
    for name in ("v1_1", "nats-simple", "nats-full"):
        acc, _lat, cost, _total = apis[name].simulate_train_eval(5, "cifar100", hp="12")
        assert 0 < acc < 100 and cost > 0


def _expected(api: object, i: int, ds: str) -> dict[str, float]:
    """What the official API answers for user data set ``ds`` under the NB201 protocol."""
    sig, fin = official.PROTOCOL[ds]
    out: dict[str, float] = {}
    for hp in ("12", "200"):
        try:
            s = api.get_more_info(i, sig, iepoch=None, hp=hp, is_random=False)
            out[f"val_{hp}"] = s["valid-accuracy"]
            out[f"cost_{hp}_s"] = s["train-all-time"] + s["valid-per-time"]
            if hp == "200":
                out["train_epoch_s"] = s["train-per-time"]
        except (KeyError, ValueError):  # v1_0: no 12-epoch runs outside cifar10-valid
            out[f"val_{hp}"] = out[f"cost_{hp}_s"] = float("nan")
        try:
            out[f"test_{hp}"] = api.get_more_info(i, fin, iepoch=None, hp=hp, is_random=False)["test-accuracy"]
        except (KeyError, ValueError):
            out[f"test_{hp}"] = float("nan")
    cost = api.get_cost_info(i, fin, hp="200")
    out["flops_m"], out["params_m"] = cost["flops"], cost["params"]
    return out


@pytest.mark.parametrize("name", ["v1_1", "v1_1-zip", "v1_0", "nats-simple", "nats-full"])
@pytest.mark.parametrize("via_api", [False, True])
def test_converted_compact_table_answers_like_the_official_api(
    files: dict[str, Path], apis: dict[str, object], tmp_path: Path, name: str, via_api: bool
) -> None:
    dst = tmp_path / "t.npz"
    argv = ["data", "convert", str(files[name]), str(dst), "--quiet"] + (["--via-api"] if via_api else [])
    assert main(argv) == 0
    table = load_compact(dst)
    api = apis[name]
    evaluated = sorted(int(p.name[:6]) for p in files[name].glob("0*.pickle.pbz2")) if name == "nats-simple" \
        else sorted(api.evaluated_indexes)
    assert sorted(table.index.tolist()) == evaluated
    checked = 0
    for i in evaluated:
        for ds in official.PROTOCOL:
            want = _expected(api, i, ds)
            for metric, value in want.items():
                got = table.get(i, ds, metric)
                np.testing.assert_allclose(got, value, rtol=RTOL, err_msg=f"{name} arch {i} {ds} {metric}")
                checked += np.isfinite(value)
            # per-trial 12-epoch validation accuracies, in the official seed order
            sig = official.PROTOCOL[ds][0]
            archres = api.arch2infos_dict[i]["12"]
            if sig in archres.get_dataset_names():
                seeds = archres.get_dataset_seeds(sig)
                want_seeds = [api.get_more_info(i, sig, hp="12", is_random=s)["valid-accuracy"] for s in seeds]
                np.testing.assert_allclose(table.seeds(i, ds), want_seeds, rtol=RTOL)
            if ds in archres.get_dataset_names():  # its latency lookup needs ds itself at hp=12 (not in v1_0)
                # the official protocol draws one trial: its answer is one of ours, at our cost
                acc, _lat, cost, _ = api.simulate_train_eval(i, ds, hp="12", account_time=False)
                assert np.isclose(table.seeds(i, ds), acc, rtol=RTOL).any()
                np.testing.assert_allclose(table.get(i, ds, "cost_12_s"), cost, rtol=RTOL)
    assert checked > len(evaluated) * 3 * 5  # most values exist (v1_0 lacks 12-epoch cifar100/IN16)


def test_v1_0_has_12_epoch_results_for_cifar10_only(files: dict[str, Path]) -> None:
    table = load_table(files["v1_0"])
    assert table.kind == "official-nb201"
    assert table.has("cifar10", "val_12") and table.has("cifar100", "val_200")
    assert not table.has("cifar100", "val_12") and not table.has("imagenet16-120", "val_12")


def test_direct_and_api_readers_agree_exactly(files: dict[str, Path], apis: dict[str, object]) -> None:
    for name in ("v1_1", "nats-simple"):
        a = official.read_direct(files[name], progress=False)
        b = official.read_via_api(files[name], progress=False, api=apis[name])
        for m in official.METRICS:
            for hp in official.HPS:
                for d in official.OFFICIAL_DATASETS:
                    np.testing.assert_allclose(a.get(m, hp, d), b.get(m, hp, d), rtol=1e-12, equal_nan=True)
        for d in official.OFFICIAL_DATASETS:
            np.testing.assert_allclose(a.flops_m[d], b.flops_m[d], rtol=1e-12, equal_nan=True)
            np.testing.assert_allclose(a.params_m[d], b.params_m[d], rtol=1e-12, equal_nan=True)


def test_fast_unpickler_reads_what_torch_load_reads(files: dict[str, Path]) -> None:
    for name in ("v1_1", "v1_1-zip"):
        assert official._load_pth(files[name]) == official._load_pth_torch(files[name])
    # the official API built through torch.load (weights_only, numpy scalars allow-listed) is the same
    fast, slow = (official.load_api(files["v1_1-zip"], loader=x) for x in ("fast", "torch"))
    for i in fast.evaluated_indexes:
        for hp in ("12", "200"):
            assert fast.get_more_info(i, "cifar100", hp=hp, is_random=False) == \
                slow.get_more_info(i, "cifar100", hp=hp, is_random=False)


def test_load_table_and_make_nb201_accept_official_paths(files: dict[str, Path]) -> None:
    from nasrepro.bench.nb201.benchmark import make_nb201

    for name in ("v1_1", "nats-simple", "nats-full"):
        bench = make_nb201(dataset="cifar100", table=files[name])
        obs = bench.query(bench.space.from_index(123), np.random.default_rng(0))
        assert 0 < obs.score < 100 and obs.cost_s > 0


# ---- bad input: one line, exit 2 ----------------------------------------------------------------
def _convert_error(capsys: pytest.CaptureFixture[str], src: Path, dst: Path, *extra: str) -> str:
    assert main(["data", "convert", str(src), str(dst), "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    return err


def test_convert_rejects_bad_input(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dst = tmp_path / "out.npz"
    assert "not found" in _convert_error(capsys, tmp_path / "missing.pth", dst)
    assert ".npz" in _convert_error(capsys, files["v1_1"], tmp_path / "out.csv")
    assert "unknown NB201 dataset" in _convert_error(capsys, files["v1_1"], dst, "--datasets", "mnist")
    for name in ("v1_1", "v1_1-zip"):
        trunc = tmp_path / f"trunc-{name}.pth"
        trunc.write_bytes(files[name].read_bytes()[: files[name].stat().st_size // 2])
        assert "truncated" in _convert_error(capsys, trunc, dst)
    trunc_nats = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    trunc_nats.write_bytes(files["nats-full"].read_bytes()[:5000])
    assert "truncated" in _convert_error(capsys, trunc_nats, dst)
    junk = tmp_path / "junk.pth"
    junk.write_text("not a torch file\n")
    assert "NAS-Bench-201" in _convert_error(capsys, junk, dst)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    assert "meta.pickle.pbz2" in _convert_error(capsys, empty_dir, dst)
    wrong = tmp_path / "wrong.pth"
    import torch

    torch.save({"state_dict": {"w": [1.0, 2.0]}}, wrong)
    assert "meta_archs" in _convert_error(capsys, wrong, dst)
    broken = fx.nb201_pth_dict([3], seed=9)
    del broken["arch2infos"][3]["full"]["all_results"]
    torch.save(broken, tmp_path / "broken.pth")
    assert "unexpected layout" in _convert_error(capsys, tmp_path / "broken.pth", dst)
    assert not dst.exists()


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.getcwd, ())


def test_direct_reader_runs_no_code_from_the_file(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "evil.pth"
    torch.save({"meta_archs": [], "arch2infos": {}, "x": _Evil()}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="cannot read"):
        official.read_direct(path, progress=False)
    nats = tmp_path / "evil.pickle.pbz2"
    with bz2.BZ2File(nats, "wb") as fh:
        pickle.dump({"x": _Evil()}, fh)
    with pytest.raises(ValueError, match="cannot read"):
        official.read_direct(nats, progress=False)


def test_missing_official_package_is_a_clear_error(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nas_201_api", None)  # makes `import nas_201_api` fail
    with pytest.raises(ValueError, match="pip install nas-bench-201"):
        official.load_api(files["v1_1"])
    monkeypatch.setitem(sys.modules, "nats_bench", None)
    with pytest.raises(ValueError, match="pip install nats_bench"):
        official.read_via_api(files["nats-simple"], progress=False)
    # the direct reader needs neither
    assert official.read_direct(files["v1_1"], progress=False).n_evaluated == len(INDICES)


def test_inconsistent_flops_follow_each_official_api(tmp_path: Path) -> None:
    """Trials that disagree on FLOPs: nats_bench takes seed 888's value, nas_201_api the mean."""
    import torch

    data = fx.nb201_pth_dict([5], version="v1_1", seed=7)
    rc = data["arch2infos"][5]["full"]["all_results"][("cifar100", 777)]
    rc["flop"] += 3.0
    pth = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    torch.save(data, pth, _use_new_zipfile_serialization=False)
    nats_dir = fx.write_nats_tss(tmp_path, [5], seed=7)
    arch_file = nats_dir / "000005.pickle.pbz2"
    with bz2.BZ2File(arch_file) as fh:
        state = pickle.load(fh)
    state["200"]["all_results"][("cifar100", 777)]["flop"] += 3.0
    with bz2.BZ2File(arch_file, "wb") as fh:
        pickle.dump(state, fh)
    for path in (pth, nats_dir):
        direct = official.read_direct(path, progress=False).flops_m["cifar100"][5]
        via_api = official.read_via_api(path, progress=False).flops_m["cifar100"][5]
        assert direct == pytest.approx(via_api, rel=1e-12)
    flops = [r["flop"] for (d, _s), r in data["arch2infos"][5]["full"]["all_results"].items() if d == "cifar100"]
    assert official.read_direct(pth, progress=False).flops_m["cifar100"][5] == pytest.approx(np.mean(flops))
