"""Measure the spread of a notebook's learned or sampled values over seeds and threads.

    .venv/bin/python -m tools.margins book/x.ipynb --values "unet_dice['grey matter']" \\
        "history['loss'][-1]" [--seeds 0 1 2 3 4] [--threads 1 4]

A threshold on what an optimiser or a sampler produced must lie outside its spread on
other machines, measured, not guessed. This runs an in-memory copy of the notebook once
per seed (its literal ``seed_everything(0)``, ``manual_seed(0)``, ``random_state=0`` and
``default_rng(0)`` set to that seed) and once per thread count, evaluates the expressions
after the last cell, and prints each value's range, for a comment beside the threshold.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from unittest import mock

import nbformat

from tools import ROOT, THREAD_VARS
from tools.notebooks import CELL_TIMEOUT_S, run

SEED_CALLS = re.compile(r"\b(seed_everything|manual_seed|default_rng)\(0\)|\b(random_state=)0\b")


def reseed(nb: nbformat.NotebookNode, seed: int) -> int:
    """Rewrite the notebook's literal seeds 0 to ``seed``; return how many were found."""
    count = 0
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        cell.source, found = SEED_CALLS.subn(
            lambda m: f"{m[1]}({seed})" if m[1] else f"{m[2]}{seed}", cell.source)
        count += found
    return count


def measure(path: Path, values: list[str], seed: int | None, threads: int | None) -> list[float]:
    nb = nbformat.read(path, as_version=4)
    if seed is not None and reseed(nb, seed) == 0:
        raise SystemExit(f"{path.name}: no literal seed 0 to vary")
    nb.cells.append(nbformat.v4.new_code_cell(
        f"import json as _j\nprint('MARGINS' + _j.dumps(list(map(float, [{', '.join(values)}]))))"))
    env = {} if threads is None else dict.fromkeys(THREAD_VARS, str(threads))
    with mock.patch.dict(os.environ, env):
        # a failing assertion must not hide its value; a busy machine must not time out
        run(nb, path, allow_errors=True, timeout=4 * CELL_TIMEOUT_S)
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        for out in (o for o in cell.outputs if o.output_type == "error"):
            level = "assertion" if out.ename == "AssertionError" else "ERROR"  # what we measure
            print(f"  code cell {i}: {level}: {out.ename}: {out.evalue[:200]}", file=sys.stderr)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    if "MARGINS" not in text:
        raise SystemExit(f"{path.name}: the values could not be evaluated (see the errors above)")
    return list(json.loads(text.split("MARGINS", 1)[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--values", nargs="+", required=True, help="Python expressions")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", nargs="*", type=int, default=[1, 4])
    args = parser.parse_args(argv)
    path = args.notebook.resolve()
    runs = [(f"seed {s}", s, None) for s in args.seeds]
    runs += [(f"{t} thread{'s' * (t > 1)}", None, t) for t in args.threads]
    table = []
    for label, seed, threads in runs:
        table.append(measure(path, args.values, seed, threads))
        print(f"{label:>10}: " + "  ".join(f"{v:.4g}" for v in table[-1]), flush=True)
    print(f"\n{path.relative_to(ROOT)}: {len(runs)} runs")
    for expr, column in zip(args.values, zip(*table, strict=True), strict=True):
        print(f"  {expr}: min {min(column):.4g}, max {max(column):.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
