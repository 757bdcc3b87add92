"""Measure the spread of a notebook's learned or sampled values over seeds and threads.

    .venv/bin/python -m tools.margins book/x.ipynb --values "unet_dice['grey matter']" \\
        "history['loss'][-1]" [--seeds 0 1 2 3 4] [--threads 1 4]

An assertion on a quantity that an optimiser or a sampler produced needs a
threshold outside that quantity's spread on other machines, and the spread is
measured, not guessed. This runs a copy of the notebook once per seed (with
``seed_everything(0)``, ``manual_seed(0)``, ``random_state=0`` and
``default_rng(0)`` rewritten to the seed) at the default thread count, and once
per thread count with the notebook's own seeds. Each run evaluates the given
Python expressions after the last cell, and the table lists every value with
its minimum and maximum. The notebook itself is never changed: the copy lives
in memory, and the numbers belong in a comment beside the threshold.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import nbformat

from tools import ROOT, THREAD_VARS
from tools.notebooks import CELL_TIMEOUT_S, run

SEED_CALLS = re.compile(r"\b(seed_everything|manual_seed|default_rng)\(0\)|\brandom_state=0\b")


def reseed(nb: nbformat.NotebookNode, seed: int) -> int:
    """Rewrite the notebook's literal seeds 0 to ``seed``; return how many were found."""
    count = 0

    def swap(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        text = match.group(0)
        return text.replace("=0", f"={seed}") if "random_state" in text else text[:-3] + f"({seed})"

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = SEED_CALLS.sub(swap, cell.source)
    return count


def measure(path: Path, values: list[str], seed: int | None, threads: int | None) -> list[float]:
    nb = nbformat.read(path, as_version=4)
    if seed is not None and reseed(nb, seed) == 0:
        raise SystemExit(f"{path.name}: no literal seed 0 to vary")
    probe = "import json as _j\nprint('MARGINS' + _j.dumps([float(v) for v in [" + ", ".join(
        values) + "]]))"
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    try:
        if threads is not None:
            os.environ.update(dict.fromkeys(THREAD_VARS, str(threads)))
        # a failing assertion must not hide its value; a busy machine must not time out
        run(nb, path, allow_errors=True, timeout=4 * CELL_TIMEOUT_S)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        for out in cell.outputs:
            if out.output_type == "error":  # failed assertions are what we came to measure
                level = "assertion" if out.ename == "AssertionError" else "ERROR"
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
        row = measure(path, args.values, seed, threads)
        table.append(row)
        print(f"{label:>10}: " + "  ".join(f"{v:.4g}" for v in row), flush=True)
    print(f"\n{path.relative_to(ROOT)}: {len(runs)} runs")
    for i, expr in enumerate(args.values):
        column = [row[i] for row in table]
        print(f"  {expr}: min {min(column):.4g}, max {max(column):.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
