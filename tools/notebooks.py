"""Re-execute the book's notebooks in place with clean metadata, or time them.

    python -m tools.notebooks execute [NOTEBOOK ...]    # `make execute`
    python -m tools.notebooks stamp [NOTEBOOK ...]      # `make stamp`
    python -m tools.notebooks benchmark [NOTEBOOK ...]  # `make benchmark`
    python -m tools.notebooks profile [NOTEBOOK ...]    # `make profile`

``execute`` is the only way outputs should be regenerated: it stamps the shared
setup cell (the repository URL in ``_config.yml``, pinned to a commit whose
``pr_utils`` makes the outputs: the book's current pin while ``pr_utils`` is
unchanged since, else HEAD, so commit ``pr_utils`` first), runs every cell in a
fresh ``python3`` kernel from ``book/``, and writes the notebook back with
canonical metadata (no timestamps, no machine paths, the plain kernelspec), so
that a diff shows only what really changed. ``benchmark`` runs the notebooks
without writing them and prints a table of wall-clock times; ``profile`` also
lists each notebook's five slowest code cells, to show where the time goes.
``stamp`` only re-pins the setup cells to HEAD, after a commit that changed ``pr_utils``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CELL_TIMEOUT_S = 600
BUDGET_S = 60  # per notebook, on 2 CPU cores

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
COLAB_GPU = {"accelerator": "GPU", "colab": {"gpuType": "T4", "provenance": []}}
CELL_METADATA_KEEP = ("tags", "mystnb", "editable", "deletable")

SETUP_CELL = '''\
# Setup, the same first cell in every notebook. Where this book's helpers (pr_utils)
# are missing (Colab, Kaggle, a fresh Jupyter) it installs them, with GPyTorch and
# MONAI, at the commit these outputs were made with; every package the runtime
# already has (PyTorch, NumPy, pandas ...) keeps its version. Where pr_utils is
# installed (see the README) it does nothing.
import importlib.util
import sys

if importlib.util.find_spec("pr_utils") is None:
    import subprocess
    import tempfile

    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze"],
                            capture_output=True, text=True, check=True).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as keep:
        keep.write("\\n".join(line for line in frozen.splitlines() if "==" in line))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "-c", keep.name,
         "{requirement}"],
        check=True,
    )'''
PIN = re.compile(r"pr-utils @ git\+(\S+?)@([0-9a-f]{40})\"")


def repository() -> tuple[str, str]:
    """The repository URL and branch, from their one home in ``_config.yml``."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo = config["repository"]
    return str(repo["url"]).rstrip("/"), str(repo["branch"])


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


def head_commit() -> str:
    """The commit that setup cells pin: HEAD, whose pr_utils produced the outputs."""
    return git("rev-parse", "HEAD")


def setup_cell_source(commit: str) -> str:
    """The setup cell every notebook starts with, pinned to ``commit`` of this repository."""
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise ValueError(f"expected a full 40-digit commit hash, got {commit!r}")
    url, _ = repository()
    return SETUP_CELL.format(requirement=f"pr-utils @ git+{url}@{commit}")


def pinned_commit(source: str) -> str | None:
    """The commit a setup cell installs pr_utils from (None: no pin found)."""
    match = PIN.search(source)
    return match.group(2) if match else None


def book_notebooks() -> list[Path]:
    """Every notebook under ``book/``, sorted."""
    return sorted(p for p in BOOK.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def uses_device(nb: nbformat.NotebookNode) -> bool:
    """Whether a notebook puts work on a device, and so wants a GPU in Colab."""
    return any(
        c.cell_type == "code" and re.search(r"\bget_device\(", c.source) for c in nb.cells
    )


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Canonical metadata: plain kernelspec, no versions, timestamps or paths."""
    meta: dict[str, Any] = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
    }
    if uses_device(nb):
        meta.update(COLAB_GPU)
    nb.metadata = nbformat.from_dict(meta)
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict(
            {k: v for k, v in cell.metadata.items() if k in CELL_METADATA_KEEP}
        )
        if cell.cell_type == "code":
            for out in cell.outputs:
                out.get("metadata", {}).pop("execution", None)
    return nb


def stamp_setup_cell(nb: nbformat.NotebookNode, commit: str | None = None) -> None:
    """Write the setup cell, pinned to ``commit`` (default HEAD), first; folded on the site."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    source = setup_cell_source(commit or head_commit())
    if code and code[0].source.startswith("# Setup, the same first cell"):
        cell = code[0]
        cell.source = source
    else:  # a new notebook: insert it after the title cell
        index = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
        cell = nbformat.v4.new_code_cell(source)
        nb.cells.insert(index, cell)
    cell.metadata["tags"] = ["hide-input"]


def run(nb: nbformat.NotebookNode, path: Path, record_timing: bool = False,
        allow_errors: bool = False, timeout: int = CELL_TIMEOUT_S) -> float:
    """Execute ``nb`` from the notebook's folder; return the wall time in seconds.

    With ``record_timing`` each code cell's ``metadata.execution`` keeps its start and
    end times (``cell_seconds`` reads them; ``clean`` drops them before writing).
    """
    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ["PR_UTILS_PROGRESS"] = "0"  # no progress bars in outputs (pr_utils.runtime)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=timeout,
        record_timing=record_timing,
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def cell_seconds(nb: nbformat.NotebookNode) -> list[tuple[int, float, str]]:
    """(code cell index, seconds, first source line) for each timed code cell."""
    from datetime import datetime

    rows = []
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        timing = cell.metadata.get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if start and end:
            seconds = (datetime.fromisoformat(end[:-1]) - datetime.fromisoformat(start[:-1]))
            lines = [ln for ln in cell.source.splitlines() if not ln.startswith("# NBVAL")]
            rows.append((i, seconds.total_seconds(), (lines or [""])[0][:60]))
    return rows


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """What a reader must not see in stored outputs: errors and leaked warnings."""
    found = []
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        for out in cell.outputs:
            text = out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
            if out.output_type == "error":
                found.append(f"code cell {i}: error {out.ename}")
            elif re.search(r"\w+Warning\b", text):
                found.append(f"code cell {i}: a warning leaked into the output")
    return found


def pr_utils_changed_since(commit: str) -> bool:
    """Whether pr_utils or its dependencies differ between ``commit`` and the working tree."""
    return bool(git("diff", "--name-only", commit, "--", "pr_utils", "pyproject.toml"))


def warn_if_uncommitted() -> None:
    if pr_utils_changed_since("HEAD"):
        print("warning: pr_utils or pyproject.toml has uncommitted changes; the setup cells pin "
              "HEAD, so commit them first, then `make stamp`", file=sys.stderr)


def stamp(paths: list[Path]) -> int:
    """Re-pin every setup cell to HEAD without running anything (after a pr_utils commit)."""
    warn_if_uncommitted()
    commit = head_commit()
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        stamp_setup_cell(nb, commit)
        nbformat.write(nb, path)
    print(f"{len(paths)} setup cells pinned to {commit[:12]}")
    return 0


def setup_source(path: Path) -> str:
    """The source of a notebook's first code cell, its setup cell ("" if it has none)."""
    nb = nbformat.read(path, as_version=4)
    return next((c.source for c in nb.cells if c.cell_type == "code"), "")


def book_pins(paths: list[Path] | None = None) -> set[str | None]:
    """The commits the setup cells of these notebooks (default: the book's) pin."""
    return {pinned_commit(setup_source(p)) for p in (paths or book_notebooks())}


def book_pin() -> str:
    """The commit to pin: the book's current pin while pr_utils is unchanged since it
    (so re-running one notebook leaves the others' pins alone), HEAD otherwise."""
    pins = book_pins()
    if len(pins) == 1:
        pin = pins.pop()
        try:
            if pin and not pr_utils_changed_since(pin):
                return pin
        except subprocess.CalledProcessError:  # not in this history
            pass
    return head_commit()


def execute(paths: list[Path]) -> int:
    status = 0
    warn_if_uncommitted()
    commit = book_pin()
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        stamp_setup_cell(nb, commit)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        seconds = run(nb, path)
        clean(nb)
        nbformat.validate(nb)
        nbformat.write(nb, path)
        issues = problems(nb)
        print(f"{path.relative_to(ROOT)}: executed in {seconds:.1f} s", flush=True)
        for issue in issues:
            print(f"  {issue}", file=sys.stderr)
        status |= bool(issues)
    return status


def benchmark(paths: list[Path], top: int = 0) -> int:
    rows = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        rows.append((str(path.relative_to(ROOT)), run(nb, path, record_timing=top > 0)))
        if top:
            print(f"{rows[-1][0]}: {rows[-1][1]:.1f} s; slowest cells:", flush=True)
            for i, seconds, line in sorted(cell_seconds(nb), key=lambda r: -r[1])[:top]:
                print(f"  cell {i:>2}  {seconds:6.1f} s  {line}", flush=True)
    width = max(len(name) for name, _ in rows)
    threads = os.cpu_count()
    print(f"\n{'notebook':<{width}}  seconds  budget {BUDGET_S} s  ({threads} CPU cores)")
    print(f"{'-' * width}  -------  ----------")
    for name, seconds in rows:
        verdict = "ok" if seconds <= BUDGET_S else "OVER"
        print(f"{name:<{width}}  {seconds:7.1f}  {verdict}")
    total = sum(s for _, s in rows)
    print(f"{'total':<{width}}  {total:7.1f}")
    return int(any(s > BUDGET_S for _, s in rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["execute", "stamp", "benchmark", "profile"])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: all of book/")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or book_notebooks()
    for p in paths:
        if p.suffix != ".ipynb" or not p.is_file():
            parser.error(f"not a notebook: {p}")
    if args.command == "execute":
        return execute(paths)
    if args.command == "stamp":
        return stamp(paths)
    return benchmark(paths, top=5 if args.command == "profile" else 0)


if __name__ == "__main__":
    sys.exit(main())
