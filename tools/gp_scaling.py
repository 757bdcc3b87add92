"""Measure the Chapter 1.4 scaling table: four GP methods, n from 10^3 to 10^6.

    python -m tools.gp_scaling               # `make gp-scaling`, ~25 min on 2 busy cores
    python -m tools.gp_scaling --traps-only  # only the traps (~7 min), keeping the table

Runs :func:`pr_utils.scaling.scaling_run` for every method and size on the CPU, in turn,
into ``pr_utils/resources/gp_scaling.json`` (the notebook loads the sizes it cannot run);
a method stops growing once a fit takes over ``--cap`` seconds. It times a float64
Cholesky (what an exact GP would cost at the BLAS's full speed) and the traps Chapter 1.4
describes (``TRAPS``), and records the threads and the load, which the timings depend on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import timeit
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
    """GFLOP/s of a float64 Cholesky factorisation (n^3/3 flops), best of ``repeats``, on
    one core as in the notebook (thread settings and other jobs disturb it least)."""
    x = np.sort(np.random.default_rng(0).uniform(0, 10, n))
    k = np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * 0.2**2)) + 0.01 * np.eye(n)
    with threadpool_limits(1):
        best = min(timeit.repeat(lambda: cholesky(k, lower=True), number=1, repeat=repeats))
    return float(n**3 / 3 / best / 1e9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cap", type=float, default=100.0,
                        help="stop growing n for a method once one fit takes longer (s)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--traps-only", action="store_true",
                        help="re-measure only the traps, keeping the table in --out")
    args = parser.parse_args(argv)
    result = (json.loads(args.out.read_text(encoding="utf-8")) if args.traps_only
              else measure_table(args.cap, args.out))
    result["traps"] = measure_traps()
    write(result, args.out)
    print(f"wrote {args.out}")
    return 0


def measure_table(cap: float, out: Path) -> dict[str, Any]:
    """Every method at growing n, written after each row so that a stopped run keeps them."""
    machine: dict[str, Any] = {
        "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(), "torch": torch.__version__,
        "gpytorch": gpytorch.__version__, "sklearn": sklearn.__version__,
        "load_average_1min": [round(os.getloadavg()[0], 2)],
        "cholesky_gflops_runs": [round(cholesky_gflops(), 2)], "cholesky_n": CHOLESKY_N}
    result: dict[str, Any] = {"machine": machine, "settings": SCALING_SETTINGS, "cap_s": cap,
                              "rows": []}
    for method in SCALING_METHODS:
        for n in SIZES + EXTRA_SIZES.get(method, ()):
            result["rows"].append(row := scaling_run(method, n))
            print(f"{method:>8} n={n:>9,}  fit {row['fit_s']:7.1f} s  "
                  f"predict {row['predict_s']:6.2f} s  RMSE {row['rmse']:.4f}  "
                  f"NLPD {row['nlpd']:+.3f}  coverage {row['coverage']:.4f}  "
                  f"warnings {row['numerical_warnings']}", flush=True)
            machine["load_average_1min"].append(round(os.getloadavg()[0], 2))
            write(result, out)
            if row["fit_s"] > cap:
                break
    machine["cholesky_gflops_runs"].append(round(cholesky_gflops(), 2))
    return result


def write(result: dict[str, Any], out: Path) -> None:
    machine = result["machine"]
    # the cores were shared with other jobs: timings are upper bounds
    machine["shared"] = max(machine["load_average_1min"]) > 0.5 * (machine["cpu_cores"] or 1)
    # best of the runs before and after the table (contention varies)
    machine["cholesky_gflops"] = max(machine["cholesky_gflops_runs"])
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


def measure_traps() -> dict[str, dict[str, Any]]:
    traps: dict[str, dict[str, Any]] = {}
    for name, (method, n, overrides) in TRAPS.items():
        trap: dict[str, Any] = {"method": method, "n": n, "overrides": overrides}
        start = time.perf_counter()
        try:
            trap["row"] = scaling_run(method, n, overrides=overrides)
        except GPTrainingError as err:
            trap["error"], trap["cause"] = str(err), type(err.__cause__).__name__
        trap["seconds"] = time.perf_counter() - start
        print(f"trap {name}: {trap.get('row') or trap.get('error')}", flush=True)
        traps[name] = trap
    return traps


if __name__ == "__main__":
    sys.exit(main())
