import numpy as np
import pytest
import torch

from pr_utils import scaling


def test_scaling_run_scores_a_method_and_rejects_unknown_ones() -> None:
    row = scaling.scaling_run("sklearn", 300)
    assert set(row) == {"method", "n", "fit_s", "predict_s", "rmse", "nlpd", "coverage",
                        "numerical_warnings"}
    # scikit-learn's L-BFGS from the book's start: RMSE measured 0.113-0.124 and
    # coverage 0.9265-0.9495 over seeds 0-4 with 1 and 4 threads
    assert 0.1 < row["rmse"] < 0.135 and abs(row["coverage"] - 0.95) < 0.04
    with pytest.raises(ValueError, match="method must be one of"):
        scaling.scaling_run("magic", 100)
    with pytest.raises(ValueError, match="unknown setting 'steps' for method 'exact'"):
        scaling.scaling_run("exact", 100, overrides={"steps": 10})


@pytest.mark.parametrize("method, kwargs, error, message", [
    ("sklearn", {"device": "gpu"}, ValueError, "device must name a torch device"),
    ("exact", {"device": "gpu"}, ValueError, "device must name a torch device"),
    ("sklearn", {"device": torch.device("meta")}, ValueError,
     "scikit-learn runs on the CPU only: device must be None or 'cpu'"),
    ("exact", {"device": 0}, TypeError, "device must be a torch.device"),
    ("exact", {"overrides": {"dtype": "float17"}}, ValueError,
     "setting 'dtype' must be 'float32' or 'float64', got 'float17'"),
    ("kiss", {"overrides": {"iterations": 0}}, ValueError, "setting 'iterations' must be positive"),
    ("svgp", {"overrides": {"lr": "fast"}}, TypeError, "setting 'lr' must be a number"),
    ("kiss", {"overrides": {"use_toeplitz": 1}}, TypeError,
     "setting 'use_toeplitz' must be a bool"),
    ("exact", {"overrides": {"preconditioner_size": -1}}, ValueError,
     "setting 'preconditioner_size' must be an int >= 0"),
    ("exact", {"overrides": {"init_noise": np.inf}}, ValueError,
     "setting 'init_noise' must be a finite positive number"),
    ("exact", {"overrides": [("dtype", "float64")]}, TypeError, "overrides must be a dict"),
])
def test_scaling_run_checks_its_arguments_before_any_work(
        method: str, kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        scaling.scaling_run(method, 50, **kwargs)  # type: ignore[arg-type]


def test_scaling_run_settings_checker_accepts_the_books_settings_and_traps() -> None:
    from tools.gp_scaling import TRAPS

    for settings in (*scaling.SCALING_SETTINGS.values(), *(t[2] for t in TRAPS.values())):
        for key, value in settings.items():
            scaling._check_setting(key, value)


def test_shipped_scaling_results_meet_the_chapter_targets() -> None:
    result = scaling.load_scaling_results()
    assert result["settings"] == scaling.SCALING_SETTINGS, "re-run `make gp-scaling`"
    rows = result["rows"]
    assert {r["method"] for r in rows} == set(scaling.SCALING_METHODS)
    at = {(r["method"], r["n"]): r for r in rows}
    for r in rows:  # accurate, calibrated, and GPyTorch did not complain
        assert r["rmse"] < 0.11 and abs(r["coverage"] - 0.95) < 0.02, r
        assert r["numerical_warnings"] == [], r
    # SVGP: 10^6 points in two minutes, within 2% of the exact GP's RMSE at the
    # largest n both reached
    assert at["svgp", 1_000_000]["fit_s"] <= 120
    common = max(n for (m, n) in at if m == "exact" and ("svgp", n) in at)
    for n in (common, 1_000_000):
        assert at["svgp", n]["rmse"] <= 1.02 * at["exact", common]["rmse"], n
    # KISS-GP: 10^5 points within the table's cap
    assert at["kiss", 100_000]["fit_s"] <= result["cap_s"]
    # LAPACK's speed: the best of the runs, n^3/3 flops each, on one core, which
    # cannot pass 32 float64 flops per cycle at 5 GHz (two AVX-512 FMA units)
    machine = result["machine"]
    gflops, n_chol = machine["cholesky_gflops"], machine["cholesky_n"]
    assert gflops == max(machine["cholesky_gflops_runs"]) and n_chol >= 1000
    assert 0.5 < gflops < 160
    # scikit-learn's fit factorises its n x n kernel matrix at least once, on at most
    # all the machine's cores: no fit can take less than one such Cholesky
    for r in rows:
        if r["method"] == "sklearn":
            assert r["fit_s"] > r["n"] ** 3 / 3 / (gflops * 1e9 * machine["cpu_cores"]), r
    # the traps Chapter 1.4 quotes, each re-measured with one setting changed back
    traps = result["traps"]
    assert set(traps) == {"default_init", "small_preconditioner", "svgp_float32",
                          "kiss_exact_settings"}
    assert traps["svgp_float32"]["cause"] == "NotPSDError"
