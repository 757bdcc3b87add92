"""The published copies' setup cell, run for real in a fresh virtual environment that imitates
Google Colab: Colab has its own PyTorch, NumPy, pandas, requests ... (pandas and requests pinned
by ``google-colab``), and a pip install that changes one under a running kernel breaks the
runtime. It needs the package index (like ``make test``): a minute or two."""

import ast
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from pr_utils.runtime import PROGRESS_ENV
from tools import ROOT, TORCH
from tools.lock import LOCK
from tools.notebooks import book_notebooks, code_cells, head_commit, repository, setup_cell_source

VENV = ROOT / "_build" / "colab-venv"
# Today's Colab versions (and of what pr_utils' needs would pull forward); tqdm from a URL
COLAB = ["numpy==2.1.3", "pandas==2.2.3", "requests==2.32.4", "scikit-learn==1.6.1",
         "statsmodels==0.14.6", "nibabel==5.4.2", "scipy==1.15.3", "matplotlib==3.10.0",
         "ipykernel==6.17.1"]


def run(*args: str, cwd: Path = VENV) -> str:
    done = subprocess.run([VENV / "bin" / "python", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "MPLBACKEND": "Agg", PROGRESS_ENV: "0"})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def packages() -> dict[str, str]:
    rows = run("-m", "pip", "list", "--format", "freeze").lower().replace("_", "-").split()
    return dict(row.split("==") for row in rows)


def setup_cell(cwd: Path = VENV) -> str:
    source = setup_cell_source(head_commit())
    local = source.replace(f"git+{repository()[0]}@", f"git+file://{ROOT}@")
    assert local != source, "the setup cell does not install from the configured repository"
    return run("-c", local, cwd=cwd)


@pytest.mark.install
def test_setup_cell_changes_no_preinstalled_package(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = ("-m", "pip", "-q")
    run(*pip, "install", "--upgrade", "pip")
    index = os.environ.get("TORCH_INDEX")  # the runtime's own packages need no bytecode (-20 s)
    run(*pip, "install", "--no-compile", *(["--index-url", index] if index else []), TORCH)
    run(*pip, "download", "--no-deps", "--only-binary=:all:", "-d", str(tmp_path), "tqdm==4.67.1")
    run(*pip, "install", "--no-compile", *COLAB, str(next(tmp_path.glob("tqdm-*.whl"))))
    assert "tqdm @ file://" in run("-m", "pip", "freeze")
    before = packages()

    said, after = setup_cell(), packages()
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    assert not changed, f"the setup cell changed preinstalled packages (before, after): {changed}"
    # What the runtime lacked comes at the lock's versions, the ones that made the outputs,
    # except where the runtime's own packages exclude one: the cell names it, and pip
    # chooses. With Colab's pandas 2.2.3 that is nilearn alone (0.14 needs pandas>=2.3).
    misfits = set(re.findall(r"Note: ([\w.-]+)==\S+ does not fit this runtime", said))
    assert misfits <= {"nilearn"}, f"the lock does not fit Colab's runtime: {said}"
    locked = dict(ln.split("==") for ln in LOCK.read_text(encoding="utf-8").splitlines()
                  if "==" in ln)
    new = set(after) - set(before) - misfits - {"pr-utils"}
    assert {"gpytorch", "monai"} <= new and "pr-utils" in after
    off = {k: (after[k], locked.get(k)) for k in new if after[k].split("+")[0] != locked.get(k)}
    assert not off, f"installed (version, lock's version): {off}"

    # Every notebook's imports work; data shipped in pr_utils (1.4's scaling table) is there.
    imports = {ast.unparse(node): None for path in book_notebooks()
               for cell in code_cells(nbformat.read(path, as_version=4))[1:]
               for node in ast.parse(re.sub(r"(?m)^\s*[%!].*$", "", cell.source)).body
               if isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0)}
    assert any("pr_utils" in i for i in imports) and any("monai" in i for i in imports)
    checks = [*imports, "import importlib.metadata as m, pr_utils.scaling as s",
              "assert len(s.load_scaling_results()) > 0",
              "print(m.distribution('pr_utils').read_text('direct_url.json'))"]
    direct_url = run("-c", "\n".join(checks))
    assert head_commit() in direct_url, f"pr_utils not at the pinned commit: {direct_url}"

    # Run again, it finds the right pr_utils, installs nothing and says nothing.
    start = time.perf_counter()
    said, seconds = setup_cell(), time.perf_counter() - start
    assert said == "" and packages() == after
    assert seconds < 10, f"the second run took {seconds:.1f} s: did it call pip again?"
    # A pr_utils folder beside the notebook, or an older pr_utils, would stand in silently.
    (tmp_path / "pr_utils").mkdir()
    (tmp_path / "pr_utils" / "__init__.py").write_text("", encoding="utf-8")
    said = setup_cell(cwd=tmp_path)
    assert "is not the one these outputs were made with" in said and str(tmp_path) in said
    older = subprocess.run(["git", "rev-parse", "HEAD~1"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.strip()
    run(*pip, "install", "--no-deps", "--force-reinstall", f"pr-utils @ git+file://{ROOT}@{older}")
    said = setup_cell()
    assert f"commit {older}" in said and head_commit()[:12] in said
