"""Reproducibility and device choice: the two calls every notebook makes first.

Every notebook runs unchanged on a laptop CPU, on CI and on a Colab GPU, so the
device is picked here (never hard-coded as ``"cuda:0"``) and all random number
generators are seeded from one place. The progress bars of the training loops
(:func:`progress_bar`) are decided here too: shown to a person running a
notebook, never stored in the book's outputs. So are the few library warnings
that a reader can do nothing about (:func:`quiet_library_warnings`, which
``import pr_utils`` calls).
"""

from __future__ import annotations

import importlib.util
import os
import random
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from pr_utils._checks import INTEGERS, NUMBERS

_DEVICE_TYPES = ("cpu", "cuda")

#: The libraries' warnings that the book ignores, as (category, message, module)
#: regular expressions of :func:`warnings.filterwarnings`: each one is about a
#: library's own code, not about anything a notebook does.
LIBRARY_WARNINGS: tuple[tuple[type[Warning], str, str], ...] = (
    # GPyTorch calls torch.jit.script while it is imported, which torch deprecates
    # (a DeprecationWarning in torch 2.13, a FutureWarning from torch 2.14 on).
    (DeprecationWarning, "`torch.jit.script` is deprecated", ""),
    (FutureWarning, "`torch.jit.script` is deprecated", ""),
    # KISS-GP's sparse interpolation in linear_operator calls torch APIs that torch deprecates.
    (UserWarning, "", r"linear_operator\.utils\.(sparse|interpolation)"),
    # MONAI 1.6's Hausdorff metric warns about an argument it passes to itself internally.
    (FutureWarning, ".*always_return_as_numpy", ""),
)


def quiet_library_warnings() -> None:
    """Ignore the warnings of :data:`LIBRARY_WARNINGS`, and only those.

    ``import pr_utils`` calls it, so a notebook that imports ``pr_utils`` before
    GPyTorch (whose import warns) shows none of them; calling it again does no
    harm (``warnings`` keeps one copy of each filter).
    """
    for category, message, module in LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


def seed_everything(seed: int = 0, *, deterministic: bool = True) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random generators.

    With ``deterministic=True`` cuDNN is also told to pick deterministic kernels
    and not to benchmark, so repeated runs on one GPU give the same numbers, and
    TensorFloat-32 is switched off for matrix products and convolutions, so that
    a GPU computes in full float32 like the CPU (on Ampere and newer GPUs PyTorch
    otherwise rounds their inputs to 10 mantissa bits, enough to break the
    float32 agreement checks of the book). Results still differ *between* CPU
    and GPU, which is why notebooks compare only rounded or tolerance-checked
    numbers.
    """
    if isinstance(seed, bool) or not isinstance(seed, INTEGERS):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    if not isinstance(deterministic, bool):
        raise TypeError(f"deterministic must be a bool, got {type(deterministic).__name__}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the legacy global generator libraries still use
    torch.manual_seed(seed)  # seeds every CUDA device too
    os.environ["PYTHONHASHSEED"] = str(seed)  # inherited by worker processes
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.allow_tf32 = not deterministic
    torch.backends.cuda.matmul.allow_tf32 = not deterministic


def get_device(prefer: str | None = None) -> torch.device:
    """Return the device to compute on: CUDA when a GPU is present, else the CPU.

    ``prefer="cpu"`` forces the CPU (useful for timing comparisons);
    ``prefer="cuda"`` insists on a GPU and fails loudly when there is none,
    rather than silently running a long training on the CPU.
    """
    if prefer is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(prefer, str):
        raise TypeError(f"prefer must be a str or None, got {type(prefer).__name__}")
    if prefer not in _DEVICE_TYPES:
        raise ValueError(f"prefer must be one of {_DEVICE_TYPES} or None, got {prefer!r}")
    if prefer == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("prefer='cuda' but no CUDA device is available")
    return torch.device(prefer)


#: Set to ``0`` to switch off the progress bars of pr_utils' training loops
#: wherever ``progress`` is left at ``None``; the book's own executors do this.
PROGRESS_ENV = "PR_UTILS_PROGRESS"
_OFF = ("0", "false", "no", "off")


def show_progress(progress: bool | None = None) -> bool:
    """Whether a training loop should draw a progress bar.

    ``True`` or ``False`` decide. ``None``, the default of the training
    functions, means "when a person is watching": yes, unless the environment
    variable ``PR_UTILS_PROGRESS`` is ``0`` (or ``false``, ``no``, ``off``).
    ``make execute``, ``make nbval`` and ``make nbval-portable`` set it, so the
    outputs the book stores and compares never contain a bar.
    """
    if progress is None:
        return os.environ.get(PROGRESS_ENV, "").strip().lower() not in _OFF
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool or None, got {type(progress).__name__}")
    return progress


def progress_bar(iterable: Iterable[Any], *, progress: bool | None, total: int | None = None,
                 desc: str = "training", delay: float = 2.0) -> Any:
    """``iterable`` wrapped in a tqdm bar that appears once it has run ``delay`` seconds.

    Whether it is drawn at all is :func:`show_progress` (``progress``); when it
    is not, the returned bar is a disabled one (``set_postfix`` does nothing).
    In Jupyter or Colab with ipywidgets installed the bar is a widget
    (``tqdm.auto``); without ipywidgets it is tqdm's text bar, because
    ``tqdm.auto`` would then print a ``TqdmWarning`` into the notebook.
    """
    on = show_progress(progress)
    if isinstance(delay, bool) or not isinstance(delay, NUMBERS) or not 0 <= delay < float("inf"):
        raise ValueError(f"delay must be a number of seconds >= 0, got {delay!r}")
    if on and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(iterable, total=total, desc=desc, disable=not on, delay=float(delay),
                mininterval=0.5)
