"""Reproducibility and device choice: the two calls every notebook makes first.

Every notebook runs unchanged on a laptop CPU, on CI and on a Colab GPU, so the
device is picked here (never hard-coded as ``"cuda:0"``) and all random number
generators are seeded from one place.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

_DEVICE_TYPES = ("cpu", "cuda")


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
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
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
