"""Input checks shared by the public functions: clear errors, said once."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

#: Python and NumPy scalar types accepted wherever an int or a float is.
INTEGERS = (int, np.integer)
NUMBERS = (int, float, np.integer, np.floating)


def as_float_tensor(name: str, value: Any, *, ndim: tuple[int, ...]) -> torch.Tensor:
    """Return ``value`` as a floating-point tensor with one of the allowed ``ndim``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if value.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, "
                         f"got shape {tuple(value.shape)}")
    if value.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    return value


def as_float_array(name: str, value: Any, *, ndim: tuple[int, ...] = (1,)) -> np.ndarray:
    """Return ``value`` as a finite float64 NumPy array with one of the allowed ``ndim``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    if arr.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, "
                         f"got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def same_length(**arrays: Any) -> None:
    """Raise ``ValueError`` unless all arguments have the same first dimension."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"lengths must match, got {lengths}")


def finite_tensor(name: str, x: torch.Tensor) -> torch.Tensor:
    """Raise ``ValueError`` if the tensor ``x`` holds NaN or infinite values."""
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} must be finite (no NaN or inf), got {bad} non-finite "
                         f"value(s) among {x.numel()}")
    return x


def number(name: str, value: Any) -> float:
    """Return ``value`` as a float; raise unless it is a finite real number
    (Python or NumPy int or float, not bool)."""
    if isinstance(value, bool) or not isinstance(value, NUMBERS):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def positive(name: str, value: Any, *, integer: bool = False) -> None:
    """Raise unless ``value`` is a finite positive number (an int if ``integer``)."""
    kinds = INTEGERS if integer else NUMBERS
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an int" if integer else "a number"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__}")
    if not integer and math.isinf(value):
        raise ValueError(f"{name} must be a finite positive number, got {value}")
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")


def non_negative_int(name: str, value: Any) -> int:
    """Return ``value`` as an int; raise unless it is a Python or NumPy int >= 0."""
    if isinstance(value, bool) or not isinstance(value, INTEGERS):
        raise TypeError(f"{name} must be a non-negative int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value}")
    return int(value)


def integer_labels(name: str, value: Any, *, non_negative: bool = False) -> np.ndarray:
    """Raise unless the array ``value`` holds whole numbers only (class labels), all
    ``>= 0`` if ``non_negative``; floats such as 1.0 pass, 1.7 or NaN do not.
    Returns the array as given (``np.asarray``)."""
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool
            or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must be an array of integer class labels, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        whole = np.isfinite(arr) & (arr == np.round(arr))
        if not whole.all():
            bad = arr[~whole].ravel()[0]
            raise ValueError(f"{name} must hold whole-number class labels, got {bad}")
    if non_negative and arr.size and arr.min() < 0:
        raise ValueError(f"{name} must hold non-negative class labels, got {arr.min()}")
    return arr


def as_device(name: str, value: Any) -> torch.device | None:
    """``None``, or ``value`` (a ``torch.device`` or a string such as ``"cpu"`` or
    ``"cuda:0"``) as a ``torch.device`` that exists on this machine."""
    if value is None:
        return None
    if not isinstance(value, (str, torch.device)):
        raise TypeError(f"{name} must be a torch.device, a string such as 'cpu' or 'cuda', "
                        f"or None, got {type(value).__name__}")
    try:
        device = torch.device(value)
    except RuntimeError:
        raise ValueError(f"{name} must name a torch device such as 'cpu' or 'cuda', "
                         f"got {value!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name} is {value!r}, but no CUDA device is available")
    return device


def trainable(model: Any) -> None:
    """Raise unless ``model`` is a ``torch.nn.Module`` with parameters, all finite."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not list(model.parameters()):
        raise ValueError(f"model ({type(model).__name__}) has no parameters to train")
    finite_parameters("model", model)


def finite_parameters(name: str, module: torch.nn.Module) -> None:
    """Raise if a floating-point parameter of ``module`` holds NaN or inf: no learning
    rate can repair it, and the error that training would raise later blames the step."""
    for pname, p in module.named_parameters():
        if p.is_floating_point() and not bool(torch.isfinite(p).all()):
            raise ValueError(f"{name} parameter {pname!r} holds NaN or inf before training: "
                             f"re-initialise the {name} (no learning rate can repair it)")


def lr_fits(name: str, lr: float, parameters: Iterable[torch.Tensor]) -> None:
    """Raise unless the learning rate ``lr`` is representable in the dtype of every
    floating-point tensor of ``parameters`` (PyTorch's optimisers cannot use it otherwise)."""
    for p in parameters:
        if p.is_floating_point() and lr > torch.finfo(p.dtype).max:
            raise ValueError(f"{name}={lr} does not fit the model's {p.dtype} parameters "
                             f"(largest {torch.finfo(p.dtype).max:.3g}); use a far smaller {name}")
