"""The setup cell, run for real in a virtual environment that imitates Google Colab.

Colab comes with its own PyTorch, NumPy, pandas, requests, scikit-learn ...; a pip
install that upgrades or downgrades one of them under a running kernel breaks the
runtime (and pandas and requests are pinned by ``google-colab`` itself). This test
builds a fresh environment holding Colab's versions (one of them installed from a
URL, as Colab's CPU runtime lists torch), runs the setup cell of the published
copies (pinned to this commit, installed from this clone instead of GitHub), and
checks that

- every package that was there before keeps its version (nothing upgraded,
  downgraded or removed),
- pr_utils is installed at the pinned commit, and everything else the cell
  installed at the lock file's version,
- every import statement of every notebook then succeeds,
- run again, the cell installs nothing and says nothing,
- with an older pr_utils installed, or a pr_utils folder beside the notebook, it
  says that this is not the pr_utils the outputs were made with.

It needs the package index (like ``make test`` itself) and takes a minute or two.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from pr_utils.runtime import PROGRESS_ENV
from tools import TORCH
from tools.lock import LOCK
from tools.notebooks import book_notebooks, head_commit, repository, setup_cell_source

pytestmark = pytest.mark.install

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "_build" / "colab-venv"
# Versions in today's Colab runtime (the ones the issue names, and the libraries
# pr_utils' dependencies would otherwise pull forward).
COLAB = ["numpy==2.1.3", "pandas==2.2.3", "requests==2.32.4", "scikit-learn==1.6.1",
         "statsmodels==0.14.6", "nibabel==5.4.2", "scipy==1.15.3", "matplotlib==3.10.0",
         "tqdm==4.67.1", "ipykernel==6.17.1"]  # tqdm, second to last, comes from a URL
TORCH_INDEX = os.environ.get("TORCH_INDEX", "")


def pip(*args: str) -> str:
    return subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", *args], check=True,
                          capture_output=True, text=True).stdout


def freeze() -> dict[str, str]:
    rows = json.loads(pip("list", "--format", "json"))
    return {r["name"].lower().replace("_", "-"): r["version"] for r in rows}


def notebook_imports() -> list[str]:
    """Every top-level import statement of every notebook (the setup cell's aside)."""
    found: dict[str, None] = {}
    for path in book_notebooks():
        nb = nbformat.read(path, as_version=4)
        for cell in [c for c in nb.cells if c.cell_type == "code"][1:]:
            lines = [ln for ln in cell.source.splitlines()
                     if not ln.lstrip().startswith(("%", "!"))]
            for node in ast.parse("\n".join(lines)).body:
                if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0):
                    found[ast.unparse(node)] = None
    return list(found)


@pytest.fixture(scope="module")
def colab_like() -> dict[str, str]:
    if shutil.which("git") is None:
        pytest.fail("git is needed to install pr_utils from the pinned commit")
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip("install", "-q", "--upgrade", "pip")
    pip("install", "-q", *(["--index-url", TORCH_INDEX] if TORCH_INDEX else []), TORCH)
    # One package from a URL (a wheel file): `pip freeze` lists it as `tqdm @ file://...`.
    wheels = VENV / "wheels"
    pip("download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(wheels), COLAB[-2])
    pip("install", "-q", *COLAB[:-2], str(next(wheels.glob("tqdm-*.whl"))), COLAB[-1])
    assert "tqdm @ file://" in pip("freeze")
    return freeze()


def run_setup_cell(cwd: Path = VENV) -> tuple[float, str]:
    """Run the published copies' setup cell in the Colab-like environment, installing
    from this clone; return seconds and what it printed."""
    source = setup_cell_source(head_commit())
    url, _ = repository()
    local = source.replace(f"git+{url}@", f"git+file://{ROOT}@")
    assert local != source, "the setup cell does not install from the configured repository"
    start = time.perf_counter()
    done = subprocess.run([str(VENV / "bin" / "python"), "-c", local], check=True, cwd=cwd,
                          capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout


def lock_versions() -> dict[str, str]:
    lines = LOCK.read_text(encoding="utf-8").splitlines()
    return dict(line.split("==") for line in lines if "==" in line)


def test_setup_cell_changes_no_preinstalled_package(colab_like: dict[str, str],
                                                     tmp_path: Path) -> None:
    _, said = run_setup_cell()
    after = freeze()
    changed = {name: (version, after.get(name)) for name, version in colab_like.items()
               if after.get(name) != version}
    assert not changed, f"the setup cell changed preinstalled packages (before, after): {changed}"
    assert "pr-utils" in after and "gpytorch" in after and "monai" in after
    # What the runtime lacked comes at the lock's versions, the ones that made the outputs,
    # except where the runtime's own packages exclude one: the cell names it, and pip
    # chooses. With Colab's pandas 2.2.3 that is nilearn alone (0.14 needs pandas>=2.3).
    misfits = set(re.findall(r"Note: ([\w.-]+)==\S+ does not fit this runtime", said))
    assert misfits <= {"nilearn"}, f"the lock does not fit Colab's runtime: {said}"
    locked = lock_versions()
    new = {name for name in after
           if name not in colab_like and name != "pr-utils" and name not in misfits}
    off = {name: (after[name], locked.get(name)) for name in new
           if after[name].split("+")[0] != locked.get(name)}
    assert not off, f"installed (version, lock's version): {off}"
    direct_url = subprocess.run(
        [str(VENV / "bin" / "python"), "-c",
         "import importlib.metadata as m; "
         "print(m.distribution('pr_utils').read_text('direct_url.json'))"],
        check=True, capture_output=True, text=True, cwd=VENV).stdout
    assert head_commit() in direct_url, f"pr_utils not at the pinned commit: {direct_url}"

    # Every import of every notebook works in the runtime the cell left behind.
    # Data shipped inside pr_utils (1.4's scaling table) is there in a non-editable install.
    loaded = subprocess.run([str(VENV / "bin" / "python"), "-c",
                             "import pr_utils.scaling as s; print(len(s.load_scaling_results()))"],
                            cwd=VENV, capture_output=True, text=True)
    assert loaded.returncode == 0 and int(loaded.stdout) > 0, loaded.stderr[-1000:]

    imports = notebook_imports()
    assert any("pr_utils" in line for line in imports) and any("monai" in line for line in imports)
    env = {**os.environ, "MPLBACKEND": "Agg", PROGRESS_ENV: "0"}
    result = subprocess.run([str(VENV / "bin" / "python"), "-c", "\n".join(imports)], env=env,
                            cwd=VENV, capture_output=True, text=True)
    assert result.returncode == 0, f"imports failed:\n{result.stderr[-2000:]}"

    # Run again, the cell finds the right pr_utils, installs nothing and says nothing.
    seconds, said = run_setup_cell()
    assert freeze() == after and said == ""
    assert seconds < 10, f"the second run took {seconds:.1f} s: did it call pip again?"

    # A pr_utils folder beside the notebook would stand in silently: the cell says so.
    (tmp_path / "pr_utils").mkdir()
    (tmp_path / "pr_utils" / "__init__.py").write_text("", encoding="utf-8")
    _, said = run_setup_cell(cwd=tmp_path)
    assert "is not the one these outputs were made with" in said and str(tmp_path) in said

    # So would an older pr_utils, installed before (from the previous commit).
    older = subprocess.run(["git", "rev-parse", "HEAD~1"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.strip()
    pip("install", "-q", "--no-deps", "--force-reinstall", f"pr-utils @ git+file://{ROOT}@{older}")
    _, said = run_setup_cell()
    assert f"commit {older}" in said and head_commit()[:12] in said
