"""Measure the Chapter 1.4 scaling table: four GP methods, n from 10^3 to 10^5.

    python -m tools.gp_scaling            # `make gp-scaling`, about 15 min on 2 cores

Runs :func:`pr_utils.gp.scaling_run` for every method and size on the CPU, one
after the other, and writes the results to ``pr_utils/resources/gp_scaling.json``,
which the notebook loads for the sizes it cannot afford to run itself. A method
stops growing once one fit takes longer than ``--cap`` (100) seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import gpytorch
import sklearn
import torch

from pr_utils.gp import SCALING_METHODS, SCALING_SETTINGS, scaling_run

OUT = Path(__file__).resolve().parents[1] / "pr_utils" / "resources" / "gp_scaling.json"
SIZES = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cap", type=float, default=100.0,
                        help="stop growing n for a method once one fit takes longer (s)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    rows: list[dict[str, float | int | str]] = []
    for method in SCALING_METHODS:
        for n in SIZES:
            row = scaling_run(method, n)
            rows.append(row)
            print(f"{method:>8} n={n:>7,}  fit {row['fit_s']:7.1f} s  "
                  f"predict {row['predict_s']:6.2f} s  RMSE {row['rmse']:.3f}  "
                  f"NLPD {row['nlpd']:+.3f}  coverage {row['coverage']:.3f}", flush=True)
            write(args, rows)  # after every row, so an interrupted run keeps what it measured
            if row["fit_s"] > args.cap:
                break
    print(f"wrote {args.out}")
    return 0


def write(args: argparse.Namespace, rows: list[dict[str, float | int | str]]) -> None:
    result = {
        "machine": {"cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "gpytorch": gpytorch.__version__, "sklearn": sklearn.__version__},
        "settings": SCALING_SETTINGS,
        "cap_s": args.cap,
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
