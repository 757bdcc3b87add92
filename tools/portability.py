"""Re-run ``pytest --nbval`` where floating-point order and environment differ.

    python -m tools.portability [CONFIG ...] [--workers N] [--paths ...]  # default: all

A stored output that passes only on the machine that executed it is a bug the next
reader finds. Each configuration changes what moves the last digits of optimisers,
samplers and reductions, or what a reader's machine may lack: ``threads1`` and
``threads4`` force every BLAS/OpenMP/torch thread count to 1, or 4 on 2 cores;
``offline`` runs in a network namespace with only loopback (``unshare -n`` as root,
``unshare -rn`` where user namespaces are allowed), which proves that no notebook
downloads anything; ``oldest`` runs in ``.venv-oldest``, with the lowest version of
every dependency that ``pyproject.toml`` allows (its ``>=`` bounds as constraints);
``newest`` in ``.venv-newest``, upgraded eagerly to the newest releases pip may install.
Configurations combine with ``+``: ``threads1+offline --workers 2`` is ``make nbval``
(so ``make test`` and CI), two notebooks at a time (pytest-xdist, each notebook whole on
one worker, the slowest first: ``tools.notebooks.slowest_first``). Where there is no
network namespace, ``offline`` says so and runs with the network, except under ``CI``.
``oldest`` keeps torch at the CPU build the Makefile installs (``tools.TORCH``: PyPI's
older Linux builds are CUDA builds of several GB); ``newest`` upgrades it too (to a CUDA
build, run on the CPU), which is why neither is part of CI. With several configurations
each run's log goes to ``_build/portability/`` and a table of results and wall times is
printed; with one, pytest reports as usual.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib

from tools import ROOT, THREAD_VARS, TORCH

LOGS = ROOT / "_build" / "portability"
NBVAL = ["--nbval", "--nbval-current-env", "--nbval-cell-timeout=600",
         "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "-p", "no:cacheprovider"]
CONFIGS = ("threads1", "threads4", "offline", "oldest", "newest")
VERSIONS = ("import importlib.metadata as m; print(*(p + ' ' + m.version(p) for p in ['numpy', "
            "'torch', 'scipy', 'scikit-learn', 'gpytorch', 'monai', 'nilearn', 'statsmodels']),"
            " sep=', ')")


def lower_bounds() -> list[str]:
    """``name==version`` for every dependency of ``pyproject.toml`` with a ``>=`` bound,
    torch excepted (it is installed first, as the CPU build)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = (re.match(r"([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)", req)
             for req in [*project["dependencies"], *project["optional-dependencies"]["test"]])
    return [f"{m[1]}=={m[2]}" for m in found if m and m[1].lower() != "torch"]


def build_venv(name: str) -> str:
    """Create (or reuse) ``.venv-<name>``: torch first, then the package and its test
    extras, at the lower bounds (``oldest``) or upgraded eagerly (``newest``)."""
    venv, constraints = ROOT / f".venv-{name}", LOGS / f"{name}-constraints.txt"
    pins = [TORCH, *lower_bounds()] if name == "oldest" else [TORCH, "(newest)"]
    stamp, wanted = venv / ".installed", "\n".join(pins)
    if not stamp.is_file() or stamp.read_text(encoding="utf-8") != wanted:
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, TORCH], check=True)
        extra = ["--upgrade", "--upgrade-strategy", "eager"]
        if name == "oldest":
            constraints.write_text(wanted + "\n", encoding="utf-8")
            extra = ["-c", str(constraints)]
        subprocess.run([*pip, *extra, "-e", ".[test]"], check=True, cwd=ROOT)
        stamp.write_text(wanted, encoding="utf-8")
    return str(venv / "bin" / "python")


def offline_prefix() -> list[str]:
    """The command prefix that runs a command in a network namespace with only loopback."""
    # Without `lo up` Jupyter kernels cannot start: they talk over 127.0.0.1.
    lo_up = ["sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    if shutil.which("unshare") and shutil.which("ip"):
        if os.geteuid() == 0:
            return ["unshare", "-n", *lo_up]
        if subprocess.run(["unshare", "-rn", *lo_up, "true"], capture_output=True,
                          check=False).returncode == 0:
            return ["unshare", "-rn", *lo_up]
    if os.environ.get("CI"):
        raise SystemExit("offline: CI must prove that no notebook downloads anything, but "
                         "this machine has no network namespace (needs root or user "
                         "namespaces, unshare and ip)")
    print("offline: no network namespace here (needs root or user namespaces); "
          "the notebooks run with the network", flush=True)
    return []


def command_for(parts: list[str], workers: int = 1,
                paths: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The nbval command line and environment for one (combined) configuration."""
    from pr_utils.runtime import PROGRESS_ENV  # not at the top: pr_utils imports torch

    env = {**os.environ, PROGRESS_ENV: "0"}  # outputs hold no progress bars
    python, prefix = str(ROOT / ".venv" / "bin" / "python"), []
    for part in parts:
        if part in ("threads1", "threads4"):
            env.update(dict.fromkeys(THREAD_VARS, part[-1]))
        elif part == "offline":
            prefix = offline_prefix()
        elif part in ("oldest", "newest"):
            python = build_venv(part)
        else:
            raise SystemExit(f"unknown configuration {part!r}; choose from {', '.join(CONFIGS)}")
    # each notebook whole on one worker, in the order given: the slowest first
    parallel = (["-n", str(workers), "--dist", "loadfile", "--no-loadscope-reorder"]
                if workers > 1 else [])
    return [*prefix, python, "-m", "pytest", *NBVAL, *parallel, *notebooks(paths)], env


def notebooks(paths: list[str] | None) -> list[str]:
    """The notebooks in ``paths`` (files or folders; default: all of ``book/``), slowest first."""
    from tools.notebooks import book_notebooks, slowest_first

    found = [n for p in (ROOT / p for p in paths) for n in
             (book_notebooks(p) if p.is_dir() else [p])] if paths else book_notebooks()
    return [str(n.relative_to(ROOT)) for n in slowest_first(list(dict.fromkeys(found)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", default=list(CONFIGS),
                        help=f"{', '.join(CONFIGS)}, or several joined by '+'")
    parser.add_argument("--workers", type=int, default=1,
                        help="notebooks run at once (pytest-xdist); use with threads1")
    parser.add_argument("--paths", nargs="+", help="notebooks or folders (default: book/)")
    args = parser.parse_args(argv)
    LOGS.mkdir(parents=True, exist_ok=True)
    rows, failed = [], False
    for config in args.configs:
        cmd, env = command_for(config.split("+"), args.workers, args.paths)
        versions = subprocess.run([cmd[cmd.index("-m") - 1], "-c", VERSIONS], capture_output=True,
                                  text=True, check=False).stdout.strip()
        print(f"== {config}: {versions}", flush=True)
        if len(args.configs) == 1:  # `make nbval`: pytest's own report, on the terminal
            return subprocess.run(cmd, env=env, cwd=ROOT, check=False).returncode
        start, log = time.perf_counter(), LOGS / f"{config}.log"
        with open(log, "w", encoding="utf-8") as out:
            code = subprocess.run(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                  check=False).returncode
        failed |= code != 0
        last = (log.read_text(encoding="utf-8").strip().splitlines() or [""])[-1]
        rows.append(f"{config:<20} {'FAIL' if code else 'pass':<7} "
                    f"{time.perf_counter() - start:7.0f}  {last}")
        print(f"   {rows[-1]}", flush=True)
    print(f"\n{'configuration':<20} {'result':<7} {'seconds':>7}  pytest", *rows, sep="\n")
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
