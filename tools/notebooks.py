"""Re-execute the book's notebooks in place with clean metadata, or time them.

    python -m tools.notebooks execute [NOTEBOOK ...]    # `make execute`
    python -m tools.notebooks stamp [NOTEBOOK ...]      # `make stamp`
    python -m tools.notebooks benchmark [NOTEBOOK ...]  # `make benchmark`
    python -m tools.notebooks profile [NOTEBOOK ...]    # `make profile`

``execute`` is the only way outputs should be regenerated: it writes the shared
setup cell (installing pr_utils from the repository URL and branch in
``_config.yml``; the published copies pin the commit instead), runs every cell in a
fresh ``python3`` kernel from ``book/``, and writes the notebook back with
canonical metadata (no timestamps, no machine paths, the plain kernelspec), so
that a diff shows only what really changed. ``benchmark`` runs the notebooks
without writing them and prints a table of wall-clock times; ``profile`` also
lists each notebook's five slowest code cells, to show where the time goes.
``stamp`` only rewrites the setup cells, after a change to the cell's template.
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

from tools import ROOT

BOOK = ROOT / "book"
CELL_TIMEOUT_S = 600
BUDGET_S = 60  # per notebook, on 2 CPU cores

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
COLAB_GPU = {"accelerator": "GPU", "colab": {"gpuType": "T4", "provenance": []}}
CELL_METADATA_KEEP = ("tags", "mystnb", "editable", "deletable")

SETUP_CELL = '''\
# Setup, the same first cell in every notebook. Where this book's helpers (pr_utils)
# are missing (Colab, Kaggle, a fresh Jupyter) it installs them, and what they need
# (GPyTorch, MONAI ...) at the versions of the book's lock file, the ones that made
# these outputs; every package the runtime already has (PyTorch, NumPy, pandas ...)
# keeps its version. Where pr_utils is installed (see the README) it installs
# nothing, and says so if that pr_utils is not the one named here.
import importlib.metadata as metadata
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PR_UTILS = "{requirement}"


def pip(*args):
    return subprocess.run([sys.executable, "-m", "pip", *args, "-q"], capture_output=True,
                          text=True)


def name(requirement):
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>~!;\\[ ]", requirement)[0]).lower()


if importlib.util.find_spec("pr_utils") is None:
    pip("install", "--no-deps", PR_UTILS).check_returncode()
    pr_utils = metadata.distribution("pr-utils")
    lock = Path(pr_utils.locate_file("pr_utils/resources/requirements.lock")).read_text()
    have = {name(d.metadata["Name"]): d.version
            for d in metadata.distributions() if d.metadata["Name"]}
    keep = [f"{package}=={version}" for package, version in have.items()]
    locked = {name(ln): ln for ln in lock.splitlines() if "==" in ln and name(ln) not in have}
    needs = [r for r in pr_utils.requires or [] if "extra ==" not in r]
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp, "constraints.txt")
        while True:  # a locked version that this runtime's packages exclude is left to pip
            constraints.write_text("\\n".join(keep + list(locked.values())))
            done = pip("install", "-c", str(constraints), *needs)
            misfits = [name(found) for line in done.stderr.splitlines()
                       if line.startswith("ERROR: Cannot install")
                       for found in re.findall(r"[\\w.-]+==", line) if name(found) in locked]
            if done.returncode == 0 or not misfits:
                break
            for misfit in dict.fromkeys(misfits):
                print(f"Note: {locked.pop(misfit)} does not fit this runtime; pip chooses.")
    if done.returncode != 0:
        pip("uninstall", "-y", "pr-utils")  # so that a re-run tries again
        sys.exit(done.stderr)
else:
    ref, found = PR_UTILS.rsplit("@", 1)[1], Path(importlib.util.find_spec("pr_utils").origin)
    try:
        dist = metadata.distribution("pr-utils")
        vcs = json.loads(dist.read_text("direct_url.json") or "{}").get("vcs_info", {})
        commit, here = vcs.get("commit_id"), Path(dist.locate_file("")).resolve()
        inside = found.resolve().is_relative_to(here)
    except metadata.PackageNotFoundError:
        commit, inside = None, False
    if len(ref) == 40 and not (commit == ref and inside):
        print(f"Note: this pr_utils ({found}, commit {commit}) is not the one these outputs "
              f"were made with (commit {ref[:12]}). For that one run\\n"
              f'  pip install --force-reinstall --no-deps "{PR_UTILS}"\\n'
              "then restart the kernel (and move away any pr_utils folder beside the notebook).")'''
PIN = re.compile(r"pr-utils @ git\+(\S+?)@([\w.\-/]+)\"")


def repository() -> tuple[str, str]:
    """The repository URL and branch, from their one home in ``_config.yml``."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo = config["repository"]
    return str(repo["url"]).rstrip("/"), str(repo["branch"])


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


def head_commit() -> str:
    """The commit that the published (reader) copies pin: the one the site is built from."""
    return git("rev-parse", "HEAD")


def setup_cell_source(ref: str | None = None) -> str:
    """The setup cell every notebook starts with, installing pr_utils from ``ref`` of this
    repository: its branch (default) in the committed notebooks, so that they do not
    change when pr_utils does; a 40-digit commit in the published copies (at publish time,
    book/_ext/reader_notebooks.py), so that a reader gets the code that made the outputs."""
    url, branch = repository()
    ref = branch if ref is None else ref
    if not re.fullmatch(r"[0-9a-f]{40}", ref) and ref != branch:
        raise ValueError(f"expected the branch {branch!r} or a 40-digit commit, got {ref!r}")
    return SETUP_CELL.replace("{requirement}", f"pr-utils @ git+{url}@{ref}")


def pinned_ref(source: str) -> str | None:
    """The branch or commit a setup cell installs pr_utils from (None: none found)."""
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


def stamp_setup_cell(nb: nbformat.NotebookNode, ref: str | None = None) -> None:
    """Write the setup cell (installing from ``ref``, default the branch) first; folded."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    source = setup_cell_source(ref)
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
    from pr_utils.runtime import PROGRESS_ENV  # not at the top: pr_utils imports torch

    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ[PROGRESS_ENV] = "0"  # no progress bars in outputs
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


def stamp(paths: list[Path]) -> int:
    """Write the current setup cell into every notebook without running anything."""
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        stamp_setup_cell(nb)
        nbformat.write(nb, path)
    print(f"{len(paths)} setup cells written")
    return 0


def setup_source(path: Path) -> str:
    """The source of a notebook's first code cell, its setup cell ("" if it has none)."""
    nb = nbformat.read(path, as_version=4)
    return next((c.source for c in nb.cells if c.cell_type == "code"), "")


def execute(paths: list[Path]) -> int:
    status = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        stamp_setup_cell(nb)
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
