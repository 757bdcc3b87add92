"""Neural-network plumbing for Chapter 2: a training loop, evaluation, parameter
counts and the plots that recur (decision regions, convolution filters).

The forward and backward passes that the chapter teaches are written out in the
notebooks; this module holds what is repeated once they have been taught.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn

from pr_utils._checks import (
    as_float_array,
    as_float_tensor,
    finite_tensor,
    integer_labels,
    lr_fits,
    number,
    positive,
    same_length,
    trainable,
)
from pr_utils.runtime import progress_bar, show_progress


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of scalar parameters of ``model`` (only trainable ones by default)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _labels(name: str, y: Any) -> torch.Tensor:
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(y).__name__}")
    if y.dtype != torch.long or y.ndim != 1:
        raise TypeError(f"{name} must be a 1-D tensor of class indices (torch.long), "
                        f"got dtype {y.dtype} and shape {tuple(y.shape)}")
    return y


def predict_labels(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
    """Class indices predicted by ``model`` (argmax of its outputs), on ``x``'s device.

    Raises ``ValueError`` if ``x`` holds NaN or infinite values.
    """
    x = finite_tensor("x", as_float_tensor("x", x, ndim=(2, 3, 4, 5)))
    positive("batch_size", batch_size, integer=True)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(x[i:i + batch_size]).argmax(dim=1)
                         for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` that ``model`` classifies as ``y`` (``ValueError`` if ``x`` is
    not finite)."""
    x = finite_tensor("x", as_float_tensor("x", x, ndim=(2, 3, 4, 5)))
    y = _labels("y", y)
    same_length(x=x, y=y)
    return float((predict_labels(model, x) == y.to(x.device)).float().mean())


def _check_classifier(model: Any, x: Any, y: Any, x_val: Any, y_val: Any, *, epochs: Any,
                      lr: Any, batch_size: Any, optimizer: Any, lr_schedule: Any,
                      progress: Any, augment: Any
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The checks of :func:`train_classifier`, all before any work: ``x``, ``y``, ``x_val``."""
    x = finite_tensor("x", as_float_tensor("x", x, ndim=(2, 3, 4, 5)))
    y = _labels("y", y)
    same_length(x=x, y=y)
    positive("epochs", epochs, integer=True)
    positive("lr", lr)
    trainable(model)
    lr_fits("lr", lr, model.parameters())
    positive("batch_size", batch_size, integer=True)
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")
    show_progress(progress)  # TypeError before any work
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be a function or None, got {type(augment).__name__}")
    if x_val is not None and y_val is not None:
        x_val = finite_tensor("x_val", as_float_tensor("x_val", x_val, ndim=(2, 3, 4, 5)))
        same_length(x_val=x_val, y_val=_labels("y_val", y_val))
    return x, y, x_val


def _augmented(augment: Callable[[torch.Tensor], torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
    augmented = augment(xb)
    if not isinstance(augmented, torch.Tensor) or augmented.shape != xb.shape:
        raise ValueError(f"augment must return a tensor of the minibatch's shape "
                         f"{tuple(xb.shape)}, got "
                         f"{getattr(augmented, 'shape', type(augmented).__name__)}")
    return augmented


def _epoch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor,
           batch_size: int, opt: torch.optim.Optimizer,
           scheduler: torch.optim.lr_scheduler.LRScheduler | None,
           augment: Callable[[torch.Tensor], torch.Tensor] | None, *, epoch: int,
           hint: str) -> float:
    """One pass over ``x`` in minibatches taken in ``order``, one optimiser step each;
    the mean training loss. A non-finite loss raises before its step."""
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    total = 0.0
    for batch, i in enumerate(range(0, len(x), batch_size), start=1):
        idx = order[i:i + batch_size]
        opt.zero_grad()
        xb = x[idx] if augment is None else _augmented(augment, x[idx])
        loss = loss_fn(model(xb), y[idx])
        value = float(loss.detach())
        if not np.isfinite(value):
            raise FloatingPointError(f"the training loss became {value} in epoch {epoch}, "
                                     f"minibatch {batch} ({hint}): training diverged; try a "
                                     "smaller learning rate")
        loss.backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        total += value * len(idx)
    return total / len(x)


def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int,
                     lr: float, batch_size: int = 64, optimizer: str = "adam",
                     x_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
                     progress: bool | None = None, seed: int = 0,
                     augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     lr_schedule: str = "constant") -> dict[str, list[float]]:
    """Train ``model`` with cross-entropy on minibatches; return the history.

    Works on whatever device ``model`` and the tensors are on (move them first with
    ``.to(device)``). ``history["loss"]`` holds the mean training loss of each
    epoch and, when validation data are given, ``history["val_accuracy"]`` the
    accuracy after each epoch. Minibatches are shuffled by a generator seeded
    with ``seed``, so a run is reproducible on one device. ``augment``, if given,
    maps each training minibatch of inputs to a new one of the same shape before
    the model sees it (e.g. random shifts); validation data are never augmented.
    ``lr_schedule="cosine"`` lowers the learning rate from ``lr`` to 0 along half a
    cosine over all minibatch steps, which makes the final weights less dependent
    on the noise of the last few steps; ``"constant"`` (the default) keeps ``lr``.
    A progress bar over the epochs (with the last epoch's loss) appears after two
    seconds when ``progress`` is ``True``, or when it is ``None`` (the default)
    and the environment variable ``PR_UTILS_PROGRESS`` is not ``0``
    (:func:`pr_utils.runtime.show_progress`).

    Raises ``ValueError`` if ``x`` or ``x_val`` holds NaN or infinite values, if a
    parameter of ``model`` does, or if ``lr`` does not fit the parameters' dtype, and
    ``FloatingPointError`` naming the epoch and minibatch (both counted from 1)
    as soon as a minibatch's loss is not finite, e.g. when the learning rate is
    too large and training diverges; the failing step is not applied.
    """
    x, y, x_val = _check_classifier(model, x, y, x_val, y_val, epochs=epochs, lr=lr,
                                    batch_size=batch_size, optimizer=optimizer,
                                    lr_schedule=lr_schedule, progress=progress,
                                    augment=augment)
    opt: torch.optim.Optimizer = (torch.optim.Adam(model.parameters(), lr=lr)
                                  if optimizer == "adam"
                                  else torch.optim.SGD(model.parameters(), lr=lr))
    steps = epochs * -(-len(x) // batch_size)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
                 if lr_schedule == "cosine" else None)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"loss": []}
    if x_val is not None:
        history["val_accuracy"] = []
    bar = progress_bar(range(1, epochs + 1), progress=progress)
    for epoch in bar:
        order = torch.randperm(len(x), generator=generator).to(x.device)
        history["loss"].append(_epoch(model, x, y, order, batch_size, opt, scheduler, augment,
                                      epoch=epoch,
                                      hint=f"lr={lr}, optimizer={optimizer!r}"))
        bar.set_postfix(loss=f"{history['loss'][-1]:.4g}", refresh=False)
        if x_val is not None and y_val is not None:
            history["val_accuracy"].append(accuracy(model, x_val, y_val))
    return history


def plot_decision_regions(ax: Axes, predict: Callable[[np.ndarray], Any], x: Any, y: Any, *,
                          resolution: int = 200, padding: float = 0.5,
                          labels: tuple[str, ...] | None = None) -> None:
    """Shade the regions where ``predict`` (an ``(m, 2) -> (m,)`` function) gives each
    class, and scatter the 2-D points ``x`` coloured by their labels ``y`` (whole
    numbers, e.g. 0 and 1 or -1 and 1), with a margin of ``padding >= 0`` around them."""
    pts = as_float_array("x", x, ndim=(2,))
    lab = integer_labels("y", as_float_array("y", y)).astype(int)
    same_length(x=pts, y=lab)
    if pts.shape[1] != 2:
        raise ValueError(f"x must have 2 columns to draw regions, got {pts.shape[1]}")
    positive("resolution", resolution, integer=True)
    if number("padding", padding) < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    classes = np.unique(lab)
    if labels is not None and len(labels) != len(classes):
        raise ValueError(f"labels must name each of the {len(classes)} classes in y, "
                         f"got {len(labels)} names")
    lo, hi = pts.min(0) - padding, pts.max(0) + padding
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    regions = np.asarray(predict(np.column_stack([g1.ravel(), g2.ravel()])))
    if regions.size != g1.size:
        raise ValueError(f"predict must return one class per grid point ({g1.size}), "
                         f"got shape {regions.shape}")
    regions = regions.reshape(g1.shape)
    ax.contourf(g1, g2, regions, levels=len(classes) - 1 if len(classes) > 1 else 1,
                alpha=0.2, cmap="coolwarm")
    for i, c in enumerate(classes):
        name = labels[i] if labels is not None else f"class {c}"
        ax.scatter(pts[lab == c, 0], pts[lab == c, 1], s=18, marker="o^sv"[i % 4], label=name,
                   color=["#0072B2", "#D55E00", "#009E73", "#CC79A7"][i % 4],
                   edgecolor="white", linewidth=0.4)


def plot_filters(fig: Figure, weights: torch.Tensor, *, title: str = "") -> None:
    """Draw the first input channel of each convolution filter in ``weights``
    (shape ``(out_channels, in_channels, h, w)``) as a small image."""
    w = as_float_tensor("weights", weights, ndim=(4,)).detach().cpu()[:, 0]
    n = w.shape[0]
    cols = min(n, 8)
    rows = int(np.ceil(n / cols))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    bound = float(w.abs().max())
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i < n:
            ax.imshow(w[i].numpy(), cmap="RdBu_r", vmin=-bound, vmax=bound)
    if title:
        fig.suptitle(title)
