"""Re-run ``pytest --nbval`` where floating-point order and environment differ.

    python -m tools.portability [CONFIG ...]   # `make nbval-portable`, default: all

A stored output that passes only on the machine that executed it is a bug the
next reader finds. Each configuration changes something that moves the last
digits of optimisers, samplers and reductions, or that a reader's machine may
lack:

``threads1``, ``threads4``
    every BLAS/OpenMP/torch thread count forced to 1, or to 4 on 2 cores;
``offline``
    inside a network namespace with only loopback (``unshare -n``, as root):
    proves that no notebook touches the network;
``oldest``
    a separate virtual environment (``.venv-oldest``) with the *lowest* version
    that ``pyproject.toml`` allows of every dependency (a constraints file is
    generated from its ``>=`` bounds), torch excepted (see below);
``newest``
    a separate environment (``.venv-newest``) upgraded eagerly to the newest
    release of every dependency that pip may install here, torch included.

Configurations combine with ``+``. ``threads1+offline`` is ``make nbval``, and so
the notebook run of ``make test`` and CI: one run checks both that no output
depends on the thread count of the machine that stored it and that nothing is
downloaded, and with one thread per notebook two notebooks run at once
(``--workers 2``, pytest-xdist, each notebook whole on one worker). Where this
machine allows no network namespace (neither root nor unprivileged user
namespaces), ``offline`` says so and runs with the network, except under ``CI``.

``oldest`` keeps torch at the CPU build the Makefile installs (``$TORCH``, see
``tools.TORCH``): PyPI's older Linux builds are CUDA builds of several GB. ``newest`` lets
pip upgrade torch too, which on these machines is capped at 2.14.1 (a CUDA build,
run on the CPU); elsewhere it downloads the newest CUDA build, which is why neither
environment is part of CI. Each run's log goes to ``_build/portability/``; a table
of configurations, results and wall times is printed at the end.
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
from pathlib import Path

from tools import ROOT, THREAD_VARS, TORCH

LOGS = ROOT / "_build" / "portability"
NBVAL = ["--nbval", "--nbval-current-env", "--nbval-cell-timeout=600",
         "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "-p", "no:cacheprovider"]
CONFIGS = ("threads1", "threads4", "offline", "oldest", "newest")


def lower_bounds() -> list[str]:
    """``name==version`` for every dependency of ``pyproject.toml`` with a ``>=`` bound,
    torch excepted (it is installed first, as the CPU build)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    pins = []
    for req in requirements:
        match = re.match(r"^([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)", req)
        if match and match.group(1).lower() != "torch":
            pins.append(f"{match.group(1)}=={match.group(2)}")
    return pins


def build_venv(name: str, constraints: list[str] | None) -> Path:
    """Create (or reuse) ``.venv-<name>`` with torch first, then the package and its
    test extras, pinned by ``constraints`` when given, else upgraded to the newest
    releases. Returns its python."""
    venv = ROOT / f".venv-{name}"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    wanted = "\n".join([TORCH, *(constraints or ["(newest)"])])
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, TORCH], check=True)
    extra: list[str] = []
    if constraints is not None:
        LOGS.mkdir(parents=True, exist_ok=True)
        file = LOGS / f"{name}-constraints.txt"
        file.write_text("\n".join([TORCH, *constraints]) + "\n", encoding="utf-8")
        extra = ["-c", str(file)]
    else:
        extra = ["--upgrade", "--upgrade-strategy", "eager"]
    subprocess.run([*pip, *extra, "-e", ".[test]"], check=True, cwd=ROOT)
    stamp.write_text(wanted, encoding="utf-8")
    return python


def offline_prefix() -> list[str]:
    """The command prefix that runs a command in a network namespace with only loopback:
    ``unshare -n`` as root, ``unshare -rn`` (a user namespace) where the kernel allows it."""
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
    python = str(ROOT / ".venv" / "bin" / "python")
    prefix: list[str] = []
    for part in parts:
        if part in ("threads1", "threads4"):
            env.update(dict.fromkeys(THREAD_VARS, part[-1]))
        elif part == "offline":
            prefix = offline_prefix()
        elif part == "oldest":
            python = str(build_venv("oldest", lower_bounds()))
        elif part == "newest":
            python = str(build_venv("newest", None))
        else:
            raise SystemExit(f"unknown configuration {part!r}; choose from {', '.join(CONFIGS)}")
    parallel = ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []
    return [*prefix, python, "-m", "pytest", *NBVAL, *parallel, *(paths or ["book"])], env


def versions(python: str) -> str:
    code = ("import importlib.metadata as m; print(', '.join(f'{p} {m.version(p)}' for p in "
            "('numpy', 'torch', 'scipy', 'scikit-learn', 'gpytorch', 'monai', 'nilearn', "
            "'statsmodels')))")
    return subprocess.run([python, "-c", code], capture_output=True, text=True,
                          check=False).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", default=list(CONFIGS),
                        help=f"{', '.join(CONFIGS)}, or several joined by '+'")
    parser.add_argument("--workers", type=int, default=1,
                        help="notebooks run at once (pytest-xdist); use with threads1")
    parser.add_argument("--paths", nargs="+", default=["book"],
                        help="the notebooks (or folders) to run, with one configuration")
    args = parser.parse_args(argv)
    LOGS.mkdir(parents=True, exist_ok=True)
    if len(args.configs) == 1:  # `make nbval`: pytest's own report, on the terminal
        cmd, env = command_for(args.configs[0].split("+"), args.workers, args.paths)
        print(f"== {args.configs[0]}: {versions(cmd[cmd.index('-m') - 1])}", flush=True)
        return subprocess.run(cmd, env=env, cwd=ROOT, check=False).returncode
    rows = []
    for config in args.configs:
        cmd, env = command_for(config.split("+"), args.workers)
        python = next(c for c in cmd if c.endswith("/python"))
        print(f"== {config}: {versions(python)}", flush=True)
        start = time.perf_counter()
        with open(LOGS / f"{config}.log", "w", encoding="utf-8") as log:
            result = subprocess.run(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                    check=False)
        seconds = time.perf_counter() - start
        tail = (LOGS / f"{config}.log").read_text(encoding="utf-8").strip().splitlines()[-1:]
        rows.append((config, result.returncode, seconds, tail[0] if tail else ""))
        print(f"   {'passed' if result.returncode == 0 else 'FAILED'} in {seconds:.0f} s: "
              f"{rows[-1][3]}", flush=True)
    print(f"\n{'configuration':<20} {'result':<7} {'seconds':>7}  pytest")
    for config, code, seconds, last in rows:
        print(f"{config:<20} {'pass' if code == 0 else 'FAIL':<7} {seconds:7.0f}  {last}")
    return int(any(code != 0 for _, code, _, _ in rows))


if __name__ == "__main__":
    sys.exit(main())
