"""Re-execute the book's notebooks in place with clean metadata, or time them.

    python -m tools.notebooks execute|stamp|benchmark|profile [NOTEBOOK ...]  # `make <that>`

``execute``, the only way outputs should be regenerated, writes the shared setup cell
(installing pr_utils from the repository and branch in ``_config.yml``; the published
copies pin the commit instead), runs every cell in a fresh ``python3`` kernel from
``book/`` and writes the notebook back with canonical metadata (no timestamps, machine
paths or versions, the plain kernelspec), so that a diff shows only what changed.
``stamp`` only rewrites the setup cells (after a change to their template);
``benchmark`` prints each notebook's wall time, ``profile`` also its five slowest cells.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat
import yaml
from nbclient import NotebookClient

from tools import ROOT

CELL_TIMEOUT_S = 600
BUDGET_S = 60  # per notebook, on 2 CPU cores
SECONDS = ROOT / "tools" / "notebook_seconds.json"  # `make benchmark` writes, `make nbval` reads
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
COLAB_GPU = {"accelerator": "GPU", "colab": {"gpuType": "T4", "provenance": []}}
CELL_METADATA_KEEP = ("tags", "mystnb", "editable", "deletable", "slideshow")  # slideshow: decks

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


def repository() -> tuple[str, str]:
    """The repository URL and branch, from their one home in ``_config.yml``."""
    repo = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]
    return str(repo["url"]).rstrip("/"), str(repo["branch"])


def head_commit() -> str:
    """The commit that the published (reader) copies pin: the one the site is built from."""
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()


def setup_cell_source(ref: str | None = None) -> str:
    """The setup cell every notebook starts with, installing pr_utils from ``ref`` of this
    repository: its branch (default) in the committed notebooks, so that they do not
    change when pr_utils does; a 40-digit commit in the published copies
    (book/_ext/reader_notebooks.py), so that a reader gets the code that made the outputs."""
    url, branch = repository()
    ref = branch if ref is None else ref
    if not re.fullmatch(r"[0-9a-f]{40}", ref) and ref != branch:
        raise ValueError(f"expected the branch {branch!r} or a 40-digit commit, got {ref!r}")
    return SETUP_CELL.replace("{requirement}", f"pr-utils @ git+{url}@{ref}")


def book_notebooks(folder: Path = ROOT / "book") -> list[Path]:
    """Every notebook under ``folder`` (default ``book/``), sorted."""
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def recorded_seconds() -> dict[str, float]:
    """Each notebook's last ``make benchmark`` time, by its path from the repository root."""
    return json.loads(SECONDS.read_text(encoding="utf-8")) if SECONDS.is_file() else {}


def slowest_first(paths: list[Path]) -> list[Path]:
    """``paths`` by their last ``make benchmark`` time, unmeasured and slowest first: two
    workers that take the longest notebooks first finish together (tools.portability)."""
    seconds = recorded_seconds()
    return sorted(paths, key=lambda p: -seconds.get(p.resolve().relative_to(ROOT).as_posix(),
                                                     float("inf")))


def code_cells(nb: nbformat.NotebookNode) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code"]


def stamp_setup_cell(nb: nbformat.NotebookNode, ref: str | None = None) -> None:
    """Write the setup cell (installing from ``ref``, default the branch) first; folded."""
    code = code_cells(nb)
    if code and code[0].source.startswith("# Setup, the same first cell"):
        cell = code[0]
        cell.source = setup_cell_source(ref)
    else:  # a new notebook: insert it after the title cell
        cell = nbformat.v4.new_code_cell(setup_cell_source(ref))
        nb.cells.insert(int(bool(nb.cells) and nb.cells[0].cell_type == "markdown"), cell)
    cell.metadata["tags"] = ["hide-input"]


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Canonical metadata: plain kernelspec, no versions, timestamps or paths; a notebook
    that puts work on a device (``get_device(``) asks Colab for a GPU."""
    meta: dict[str, Any] = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    if any(re.search(r"\bget_device\(", c.source) for c in code_cells(nb)):
        meta.update(COLAB_GPU)
    nb.metadata = nbformat.from_dict(meta)
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict(
            {k: v for k, v in cell.metadata.items() if k in CELL_METADATA_KEEP})
    return nb


def run(nb: nbformat.NotebookNode, path: Path, **options: Any) -> float:
    """Execute ``nb`` in a fresh kernel from the notebook's folder; return the wall time in
    seconds. ``options`` go to nbclient (``allow_errors``, ``timeout``); each code cell's
    ``metadata.execution`` keeps its start and end times (``clean`` drops them)."""
    from pr_utils.runtime import PROGRESS_ENV  # not at the top: pr_utils imports torch

    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ[PROGRESS_ENV] = "0"  # no progress bars in outputs
    client = NotebookClient(nb, kernel_name="python3", **{"timeout": CELL_TIMEOUT_S, **options},
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """What a reader must not see in stored outputs: errors and leaked warnings."""
    found = []
    for i, cell in enumerate(code_cells(nb)):
        for out in cell.outputs:
            text = out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
            if out.output_type == "error":
                found.append(f"code cell {i}: error {out.ename}")
            elif re.search(r"\w+Warning\b", text):
                found.append(f"code cell {i}: a warning leaked into the output")
    return found


def execute(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    stamp_setup_cell(nb)
    for cell in code_cells(nb):
        cell.outputs, cell.execution_count = [], None
    seconds = run(nb, path)
    nbformat.validate(clean(nb))
    nbformat.write(nb, path)
    print(f"{path.relative_to(ROOT)}: executed in {seconds:.1f} s", flush=True)
    issues = problems(nb)
    print("".join(f"  {issue}\n" for issue in issues), end="", file=sys.stderr)
    return int(bool(issues))


def slowest_cells(nb: nbformat.NotebookNode, top: int) -> list[str]:
    """The ``top`` slowest code cells: index, seconds and first line (nbclient's timings)."""
    rows = []
    for i, cell in enumerate(code_cells(nb)):
        timing = cell.metadata.get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if start and end:
            seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
            line = next((ln for ln in cell.source.splitlines() if not ln.startswith("# NBVAL")), "")
            rows.append((seconds, f"  cell {i:>2}  {seconds:6.1f} s  {line[:60]}"))
    return [row for _, row in sorted(rows, key=lambda r: -r[0])[:top]]


def benchmark(paths: list[Path], top: int = 0) -> int:
    rows = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        rows.append((str(path.relative_to(ROOT)), run(nb, path)))
        if top:
            print(f"{rows[-1][0]}: {rows[-1][1]:.1f} s; slowest cells:", flush=True)
            print("\n".join(slowest_cells(nb, top)), flush=True)
    width = max(len(name) for name, _ in rows)
    print(f"\n{'notebook':<{width}}  seconds  budget {BUDGET_S} s  ({os.cpu_count()} CPU cores)")
    print(f"{'-' * width}  -------  ----------")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:7.1f}  {'ok' if seconds <= BUDGET_S else 'OVER'}")
    print(f"{'total':<{width}}  {sum(s for _, s in rows):7.1f}")
    known = {name: s for name, s in recorded_seconds().items() if (ROOT / name).is_file()}
    SECONDS.write_text(json.dumps(known | {name: round(s, 1) for name, s in rows}, indent=1,
                                  sort_keys=True) + "\n", encoding="utf-8")
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
        return max(execute(path) for path in paths)
    if args.command == "stamp":
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            stamp_setup_cell(nb)
            nbformat.write(nb, path)
        print(f"{len(paths)} setup cells written")
        return 0
    return benchmark(paths, top=5 if args.command == "profile" else 0)


if __name__ == "__main__":
    sys.exit(main())
