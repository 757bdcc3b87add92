"""The package installs, stays light and agrees with its own metadata."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pr_utils

ROOT = Path(__file__).resolve().parents[1]


def test_import_does_not_pull_in_gpytorch_or_monai() -> None:
    code = (
        "import sys, pr_utils, pr_utils.plot, pr_utils.runtime; "
        "heavy = sorted(m for m in ('gpytorch', 'monai', 'sklearn') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_version_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert pr_utils.__version__ == project["version"]


def test_torch_and_numpy_are_ranges_not_pins() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for name in ("torch", "numpy"):
        (spec,) = [d for d in deps if d.split(">")[0].split("=")[0].split("<")[0] == name]
        assert "==" not in spec and ">=" in spec, spec


def test_package_is_typed() -> None:
    assert (Path(pr_utils.__file__).parent / "py.typed").is_file()


def test_modules_and_functions_stay_readable() -> None:
    # at most 400 lines a module and 60 a function (from its def to its last line,
    # docstring included), so that a student can read each helper on one screen
    long = []
    for path in sorted((ROOT / "pr_utils").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 400:
            long.append(f"{path.name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > 60:
                    long.append(f"{path.name}:{node.lineno} {node.name}: {size} lines")
    assert not long, long
