"""Measure the Chapter 1.4 scaling table: four GP methods, n from 10^3 to 10^6.

    python -m tools.gp_scaling               # `make gp-scaling`, ~25 min on 2 busy cores
    python -m tools.gp_scaling --traps-only  # only the traps (~7 min), keeping the table

Runs :func:`pr_utils.scaling.scaling_run` for every method and size on the CPU, one
after the other, and writes the results to ``pr_utils/resources/gp_scaling.json``,
which the notebook loads for the sizes it cannot afford to run itself. A method
stops growing once one fit takes longer than ``--cap`` (100) seconds. The run also
times a float64 Cholesky factorisation, so that the notebook can draw what an exact
GP would cost on the same machine at the BLAS's full speed, and re-measures the
traps that Chapter 1.4 describes (``TRAPS``: one setting changed back each).
Timings depend on the threads (``OMP_NUM_THREADS``) and on other jobs; both are
recorded under ``machine``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import gpytorch
import numpy as np
import sklearn
import torch
from scipy.linalg import cholesky
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from pr_utils.gp import GPTrainingError
from pr_utils.scaling import SCALING_METHODS, SCALING_SETTINGS, scaling_run

OUT = Path(__file__).resolve().parents[1] / "pr_utils" / "resources" / "gp_scaling.json"
SIZES = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)
# Only SVGP's cost is independent of n; the others stop at the cap long before.
EXTRA_SIZES = {"svgp": (200_000, 500_000, 1_000_000)}
CHOLESKY_N = 4000
# The traps of Chapter 1.4, re-measured so that its prose can quote them:
# name -> (method, n, settings changed from SCALING_SETTINGS)
TRAPS: dict[str, tuple[str, int, dict[str, Any]]] = {
    "default_init": ("exact", 1000, {"init_lengthscale": None, "init_noise": None}),
    "small_preconditioner": ("exact", 5000, {"preconditioner_size": 15}),
    "svgp_float32": ("svgp", 1_000_000, {"dtype": "float32"}),
    "kiss_exact_settings": ("kiss", 10_000, {"dtype": "float32", "iterations": 50,
                                             "use_toeplitz": True, "preconditioner_size": 100,
                                             "eval_cg_tolerance": 0.01, "love_rank": 1000}),
}


def cholesky_gflops(n: int = CHOLESKY_N, repeats: int = 5) -> float:
    """GFLOP/s of a float64 Cholesky factorisation (n^3/3 flops) on one core, best of
    ``repeats`` (one core, as in the notebook: thread settings and other jobs
    disturb it least)."""
    x = np.sort(np.random.default_rng(0).uniform(0, 10, n))
    k = np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * 0.2**2)) + 0.01 * np.eye(n)
    best = np.inf
    with threadpool_limits(1):
        for _ in range(repeats):
            start = time.perf_counter()
            cholesky(k, lower=True)
            best = min(best, time.perf_counter() - start)
    return float(n**3 / 3 / best / 1e9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cap", type=float, default=100.0,
                        help="stop growing n for a method once one fit takes longer (s)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--traps-only", action="store_true",
                        help="re-measure only the traps, keeping the table in --out")
    args = parser.parse_args(argv)
    if args.traps_only:
        result = json.loads(args.out.read_text(encoding="utf-8"))
        result["traps"] = measure_traps()
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
        return 0
    run: dict[str, Any] = {"load_average_1min": [os.getloadavg()[0]],
                           "cholesky_gflops": [cholesky_gflops()]}
    rows: list[dict[str, Any]] = []
    for method in SCALING_METHODS:
        for n in SIZES + EXTRA_SIZES.get(method, ()):
            row = scaling_run(method, n)
            rows.append(row)
            print(f"{method:>8} n={n:>9,}  fit {row['fit_s']:7.1f} s  "
                  f"predict {row['predict_s']:6.2f} s  RMSE {row['rmse']:.4f}  "
                  f"NLPD {row['nlpd']:+.3f}  coverage {row['coverage']:.4f}  "
                  f"warnings {row['numerical_warnings']}", flush=True)
            run["load_average_1min"].append(os.getloadavg()[0])
            write(args, run, rows)  # after every row, so an interrupted run keeps what it measured
            if row["fit_s"] > args.cap:
                break
    run["cholesky_gflops"].append(cholesky_gflops())
    write(args, run, rows, measure_traps())
    print(f"wrote {args.out}")
    return 0


def measure_traps() -> dict[str, dict[str, Any]]:
    traps: dict[str, dict[str, Any]] = {}
    for name, (method, n, overrides) in TRAPS.items():
        trap: dict[str, Any] = {"method": method, "n": n, "overrides": overrides}
        start = time.perf_counter()
        try:
            trap["row"] = scaling_run(method, n, overrides=overrides)
        except GPTrainingError as err:
            trap["error"] = str(err)
            trap["cause"] = type(err.__cause__).__name__
        trap["seconds"] = time.perf_counter() - start
        print(f"trap {name}: {trap.get('row') or trap.get('error')}", flush=True)
        traps[name] = trap
    return traps


def write(args: argparse.Namespace, run: dict[str, Any], rows: list[dict[str, Any]],
          traps: dict[str, dict[str, Any]] | None = None) -> None:
    loads = run["load_average_1min"]
    result = {
        "machine": {"cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "gpytorch": gpytorch.__version__, "sklearn": sklearn.__version__,
                    # the cores were shared with other jobs: timings are upper bounds
                    "shared": max(loads) > 0.5 * (os.cpu_count() or 1),
                    "load_average_1min": [round(v, 2) for v in loads],
                    # best of the runs before and after the table (contention varies)
                    "cholesky_gflops": round(max(run["cholesky_gflops"]), 2),
                    "cholesky_gflops_runs": [round(v, 2) for v in run["cholesky_gflops"]],
                    "cholesky_n": CHOLESKY_N},
        "settings": SCALING_SETTINGS,
        "cap_s": args.cap,
        "rows": rows,
    }
    if traps is not None:
        result["traps"] = traps
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
