"""Gaussian-process plumbing for Chapter 1: GPyTorch models, one training loop,
prediction, calibration metrics and a posterior plot.

The posterior formulas themselves are derived and implemented in the notebooks;
this module holds what is reused once they have been taught. The model classes
follow GPyTorch's own examples (mean module, covariance module, ``forward``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gpytorch
import numpy as np
import torch
from linear_operator.utils.errors import NanError, NotPSDError
from matplotlib.axes import Axes
from torch.optim.lr_scheduler import LambdaLR

from pr_utils._checks import (
    as_float_array,
    as_float_tensor,
    finite_parameters,
    finite_tensor,
    lr_fits,
    number,
    positive,
    same_length,
)
from pr_utils.runtime import progress_bar, show_progress


def rbf_kernel(x1: Any, x2: Any, *, variance: float = 1.0, lengthscale: float = 1.0) -> np.ndarray:
    """Squared-exponential kernel ``variance * exp(-|x - x'|^2 / (2 lengthscale^2))``.

    ``x1`` is ``(n,)`` or ``(n, d)``, ``x2`` is ``(m,)`` or ``(m, d)``; returns ``(n, m)``.
    This is GPyTorch's ``ScaleKernel(RBFKernel())`` in NumPy, for the from-scratch lessons.
    """
    a = as_float_array("x1", x1, ndim=(1, 2))
    b = as_float_array("x2", x2, ndim=(1, 2))
    positive("variance", variance)
    positive("lengthscale", lengthscale)
    a = a[:, None] if a.ndim == 1 else a
    b = b[:, None] if b.ndim == 1 else b
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x1 and x2 must have the same number of columns, got {a.shape[1]} "
                         f"and {b.shape[1]}")
    sq = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.asarray(variance * np.exp(-sq / (2.0 * lengthscale**2)))


class ExactGPModel(gpytorch.models.ExactGP):  # type: ignore[misc]
    """Exact GP regression: constant mean and, by default, ``ScaleKernel(RBFKernel())``.

    Raises ``ValueError`` if ``train_x`` or ``train_y`` holds NaN or infinite values.
    """

    def __init__(self, train_x: torch.Tensor, train_y: torch.Tensor,
                 likelihood: gpytorch.likelihoods.GaussianLikelihood,
                 kernel: gpytorch.kernels.Kernel | None = None,
                 mean: gpytorch.means.Mean | None = None) -> None:
        finite_tensor("train_x", as_float_tensor("train_x", train_x, ndim=(1, 2)))
        finite_tensor("train_y", as_float_tensor("train_y", train_y, ndim=(1,)))
        same_length(train_x=train_x, train_y=train_y)
        super().__init__(train_x, train_y, likelihood)
        self.mean_module = mean if mean is not None else gpytorch.means.ConstantMean()
        self.covar_module = (kernel if kernel is not None
                             else gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel()))

    def forward(self, x: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


class KISSGPModel(ExactGPModel):
    """Structured kernel interpolation (KISS-GP): an RBF kernel on a regular grid of
    ``grid_size`` points, interpolated to the data (Wilson & Nickisch 2015). 1-D inputs.

    ``grid_bounds`` is ``(low, high)`` with ``low < high``, by default the data's range.
    """

    def __init__(self, train_x: torch.Tensor, train_y: torch.Tensor,
                 likelihood: gpytorch.likelihoods.GaussianLikelihood, grid_size: int = 1000,
                 grid_bounds: tuple[float, float] | None = None) -> None:
        positive("grid_size", grid_size, integer=True)
        finite_tensor("train_x", as_float_tensor("train_x", train_x, ndim=(1,)))
        bounds = (float(train_x.min()), float(train_x.max()))
        if grid_bounds is not None:
            if not isinstance(grid_bounds, (tuple, list)) or len(grid_bounds) != 2:
                raise TypeError(f"grid_bounds must be a pair (low, high), got {grid_bounds!r}")
            bounds = (number("grid_bounds", grid_bounds[0]), number("grid_bounds", grid_bounds[1]))
            if not bounds[0] < bounds[1]:
                raise ValueError(f"grid_bounds must be (low, high) with low < high, "
                                 f"got {grid_bounds!r}")
        kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.GridInterpolationKernel(
            gpytorch.kernels.RBFKernel(), grid_size=int(grid_size), num_dims=1,
            grid_bounds=[bounds]))
        super().__init__(train_x, train_y, likelihood, kernel=kernel)


class SVGPModel(gpytorch.models.ApproximateGP):  # type: ignore[misc]
    """Stochastic variational GP (Hensman et al. 2013): learned inducing points and
    a full-covariance Gaussian over their values, in natural parameters so that
    :func:`train_gp` can fit it by natural-gradient steps on minibatches."""

    def __init__(self, inducing_points: torch.Tensor,
                 kernel: gpytorch.kernels.Kernel | None = None) -> None:
        as_float_tensor("inducing_points", inducing_points, ndim=(1, 2))
        distribution = gpytorch.variational.NaturalVariationalDistribution(
            inducing_points.size(0))
        strategy = gpytorch.variational.VariationalStrategy(
            self, inducing_points, distribution, learn_inducing_locations=True)
        super().__init__(strategy)
        self.mean_module = gpytorch.means.ConstantMean()
        self.covar_module = (kernel if kernel is not None
                             else gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel()))

    def forward(self, x: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


class GPTrainingError(RuntimeError):
    """Training a GP stopped: the loss became non-finite, or GPyTorch met a covariance
    matrix that is not positive definite or contains NaN. The message says what to
    change; the GPyTorch error, if any, is the ``__cause__``."""


_PSD_ADVICE = ("use float64 (model.double(), likelihood.double() and float64 data), a larger "
               "jitter (gpytorch.settings.cholesky_jitter), a smaller learning rate or "
               "natural-gradient step (ngd_lr), or, for an SVGP, "
               "TrilNaturalVariationalDistribution, which never factorises the precision")


def _finite_training_data(model: gpytorch.models.ExactGP) -> None:
    """Raise unless the data an exact GP conditions on (stored in it) are finite."""
    for i, stored in enumerate(model.train_inputs or ()):
        finite_tensor(f"the model's train_inputs[{i}]", stored)
    if model.train_targets is not None:
        finite_tensor("the model's train_targets", model.train_targets)


def _check_train_gp(model: Any, likelihood: Any, x: Any, y: Any, *, iterations: Any,
                    lr: Any, batch_size: Any, ngd_lr: Any, lr_final: Any, ngd_lr_final: Any,
                    progress: Any) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """The checks of :func:`train_gp`, all before any work: ``x``, ``y`` and whether
    ``model`` is an exact GP."""
    x = finite_tensor("x", as_float_tensor("x", x, ndim=(1, 2)))
    y = finite_tensor("y", as_float_tensor("y", y, ndim=(1,)))
    same_length(x=x, y=y)
    positive("iterations", iterations, integer=True)
    positive("lr", lr)
    exact = isinstance(model, gpytorch.models.ExactGP)
    if not exact and not isinstance(model, gpytorch.models.ApproximateGP):
        raise TypeError(f"model must be an ExactGP or ApproximateGP, got {type(model).__name__}")
    if exact:
        _finite_training_data(model)
    finite_parameters("model", model)
    finite_parameters("likelihood", likelihood)
    lr_fits("lr", lr, [*model.parameters(), *likelihood.parameters()])
    if exact and batch_size is not None:
        raise ValueError("an exact GP uses all the data each step; batch_size must be None")
    if batch_size is not None:
        positive("batch_size", batch_size, integer=True)
    positive("ngd_lr", ngd_lr)
    lr_fits("ngd_lr", ngd_lr, model.parameters())
    show_progress(progress)  # TypeError before any work
    for name, final in (("lr_final", lr_final), ("ngd_lr_final", ngd_lr_final)):
        if final is not None:
            positive(name, final)
    return x, y, exact


def _half_then_geometric(iterations: int, first: float,
                        last: float | None) -> Callable[[int], float]:
    """The factor on a step size at each iteration, for ``LambdaLR``: 1 for the first
    half of training, then from 1 geometrically down to ``last / first`` at the last
    iteration (1 throughout when ``last`` is None)."""
    decay_from = iterations // 2

    def factor(i: int) -> float:
        if last is None or i < decay_from:
            return 1.0
        return float((last / first) ** ((i - decay_from) / max(1, iterations - 1 - decay_from)))

    return factor


def _objective_and_optimizers(
        model: Any, likelihood: Any, n: int, *, exact: bool, lr: float, ngd_lr: float
) -> tuple[gpytorch.mlls.MarginalLogLikelihood, list[torch.optim.Optimizer]]:
    """An exact GP's marginal likelihood and one Adam on all its parameters, or an
    approximate GP's ELBO, natural-gradient steps on ``q(u)`` and Adam on the rest."""
    if exact:
        mll = gpytorch.mlls.ExactMarginalLogLikelihood(likelihood, model)
        return mll, [torch.optim.Adam(model.parameters(), lr=lr)]  # includes the noise
    mll = gpytorch.mlls.VariationalELBO(likelihood, model, num_data=n)
    ngd = gpytorch.optim.NGD(model.variational_parameters(), num_data=n, lr=ngd_lr)
    adam = torch.optim.Adam([*model.hyperparameters(), *likelihood.parameters()], lr=lr)
    return mll, [ngd, adam]


def _minibatch(x: torch.Tensor, y: torch.Tensor, batch_size: int | None,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` points drawn with replacement, or all of them."""
    if batch_size is None or batch_size >= y.numel():
        return x, y
    idx = torch.randint(y.numel(), (batch_size,), generator=generator).to(y.device)
    return x[idx], y[idx]


def _step(mll: gpytorch.mlls.MarginalLogLikelihood, x: torch.Tensor, y: torch.Tensor,
          optimizers: list[torch.optim.Optimizer]) -> float:
    """The loss at ``(x, y)``, then one step of each optimiser, unless the loss is
    not finite (the parameters are then left as they were)."""
    for optimizer in optimizers:
        optimizer.zero_grad()
    loss = -mll(mll.model(x), y)
    value = float(loss.detach())
    if math.isfinite(value):
        loss.backward()
        for optimizer in optimizers:
            optimizer.step()
    return value


def _covariance_error(err: NotPSDError | NanError, i: int, iterations: int,
                      dtype: torch.dtype) -> GPTrainingError:
    """What GPyTorch's ``err`` at iteration ``i`` means, and what to change."""
    problem = ("is not positive definite" if isinstance(err, NotPSDError)
               else "contains NaN (a parameter diverged)")
    return GPTrainingError(
        f"a covariance matrix {problem} at iteration {i} (of {iterations}, dtype {dtype}; "
        f"GPyTorch raised {type(err).__name__}). To fix it, {_PSD_ADVICE}")


def train_gp(model: gpytorch.models.GP, likelihood: gpytorch.likelihoods.Likelihood,
             x: torch.Tensor, y: torch.Tensor, *, iterations: int = 100, lr: float = 0.1,
             batch_size: int | None = None, ngd_lr: float = 0.1, lr_final: float | None = None,
             ngd_lr_final: float | None = None, progress: bool | None = None,
             seed: int = 0) -> list[float]:
    """Fit a GP's hyperparameters with Adam (learning rate ``lr``); return the losses.

    An ``ExactGP`` minimises the negative log marginal likelihood on all the data
    each iteration. An ``ApproximateGP`` minimises the negative ELBO on minibatches
    of ``batch_size`` (one minibatch per iteration, so ``iterations`` counts steps,
    not epochs), and its variational distribution takes natural-gradient steps
    (``ngd_lr``), as in GPyTorch's SVGP examples: plain Adam on all parameters
    tends to explain a fast signal as noise before the variational mean has moved.
    With ``lr_final`` (``ngd_lr_final``) the Adam (natural-gradient) step shrinks
    geometrically to that value over the second half of training (a ``LambdaLR``
    schedule), so that the final parameters average over many minibatches instead
    of following the last few: with a constant step ``ngd_lr`` the variational
    distribution remembers only about ``batch_size / ngd_lr`` points, far fewer than
    ``n = 10^6``. The loss is per data point, so curves of different ``n`` compare.

    A progress bar with the current loss appears after two seconds when
    ``progress`` is ``True``, or when it is ``None`` (the default) and the
    environment variable ``PR_UTILS_PROGRESS`` is not ``0``
    (:func:`pr_utils.runtime.show_progress`).

    Raises ``ValueError`` for non-finite data or parameters and :class:`GPTrainingError` (naming
    the iteration) when the loss becomes non-finite or GPyTorch cannot factorise
    a covariance matrix (``NotPSDError``, ``NanError``, chained as the cause).
    """
    x, y, exact = _check_train_gp(model, likelihood, x, y, iterations=iterations, lr=lr,
                                  batch_size=batch_size, ngd_lr=ngd_lr, lr_final=lr_final,
                                  ngd_lr_final=ngd_lr_final, progress=progress)
    model.train()
    likelihood.train()
    mll, optimizers = _objective_and_optimizers(model, likelihood, y.numel(), exact=exact,
                                                lr=lr, ngd_lr=ngd_lr)
    sizes = [(lr, lr_final)] if exact else [(ngd_lr, ngd_lr_final), (lr, lr_final)]
    schedulers = [LambdaLR(optimizer, _half_then_geometric(iterations, first, last))
                  for optimizer, (first, last) in zip(optimizers, sizes, strict=True)]
    generator = torch.Generator(device="cpu").manual_seed(seed)
    losses: list[float] = []
    bar = progress_bar(range(iterations), progress=progress)
    for i in bar:
        xb, yb = _minibatch(x, y, batch_size, generator)
        try:
            loss = _step(mll, xb, yb, optimizers)
        except (NotPSDError, NanError) as err:
            raise _covariance_error(err, i, iterations, x.dtype) from err
        if not math.isfinite(loss):
            raise GPTrainingError(
                f"the loss became {loss} at iteration {i} (of {iterations}); the "
                f"parameters are left as they were before it. Try a smaller learning rate "
                f"(lr={lr}), standardised data, float64 or a larger initial noise")
        for scheduler in schedulers:
            scheduler.step()
        losses.append(loss)
        bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
    return losses


def predict(model: gpytorch.models.GP, likelihood: gpytorch.likelihoods.Likelihood,
            x: torch.Tensor, *, batch_size: int = 4096,
            noise: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictive mean and variance at ``x`` (of ``y`` if ``noise``, else of ``f``).

    Runs in evaluation mode without gradients, in batches to bound memory.
    Raises ``ValueError`` if ``x``, or an exact GP's stored training data, holds
    NaN or infinite values.
    """
    x = finite_tensor("x", as_float_tensor("x", x, ndim=(1, 2)))
    positive("batch_size", batch_size, integer=True)
    if isinstance(model, gpytorch.models.ExactGP):
        _finite_training_data(model)
    model.eval()
    likelihood.eval()
    means, variances = [], []
    with torch.no_grad():
        for start in range(0, x.size(0), batch_size):
            f = model(x[start:start + batch_size])
            out = likelihood(f) if noise else f
            means.append(out.mean)
            variances.append(out.variance)
    return torch.cat(means), torch.cat(variances)


def rmse(y: Any, mean: Any) -> float:
    """Root-mean-square error of the predictive mean."""
    y_, m = as_float_array("y", y), as_float_array("mean", mean)
    same_length(y=y_, mean=m)
    return float(np.sqrt(np.mean((y_ - m) ** 2)))


def gaussian_nlpd(y: Any, mean: Any, var: Any) -> float:
    """Mean negative log predictive density of ``y`` under ``N(mean, var)``, per point.

    Lower is better; unlike the RMSE it punishes over- and under-confident variances.
    """
    y_, m, v = (as_float_array(n, a) for n, a in (("y", y), ("mean", mean), ("var", var)))
    same_length(y=y_, mean=m, var=v)
    if np.any(v <= 0):
        raise ValueError("var must be positive")
    return float(np.mean(0.5 * np.log(2 * math.pi * v) + 0.5 * (y_ - m) ** 2 / v))


def coverage(y: Any, mean: Any, var: Any, *, z: float = 1.959963984540054) -> float:
    """Fraction of ``y`` inside ``mean ± z·sd`` (0.95 expected for a calibrated model)."""
    y_, m, v = (as_float_array(n, a) for n, a in (("y", y), ("mean", mean), ("var", var)))
    same_length(y=y_, mean=m, var=v)
    if np.any(v < 0):
        raise ValueError("var must be non-negative")
    positive("z", z)
    return float(np.mean(np.abs(y_ - m) <= z * np.sqrt(v)))


def plot_posterior(ax: Axes, x: Any, mean: Any, var: Any, *, x_train: Any = None,
                   y_train: Any = None, samples: Any = None, label: str = "posterior mean",
                   color: str | None = None) -> None:
    """Draw a GP's mean, its 95% band, optional sample paths and the training data
    (give both ``x_train`` and ``y_train``, or neither)."""
    x_, m, v = (as_float_array(n, a) for n, a in (("x", x), ("mean", mean), ("var", var)))
    same_length(x=x_, mean=m, var=v)
    if np.any(v < 0):
        raise ValueError("var must be non-negative")
    if samples is not None:
        s = as_float_array("samples", samples, ndim=(2,))
        if s.shape[1] != len(x_):
            raise ValueError(f"samples must have shape (k, {len(x_)}), got {s.shape}")
    if (x_train is None) != (y_train is None):
        raise ValueError("give both x_train and y_train, or neither")
    if x_train is not None:
        xt, yt = as_float_array("x_train", x_train), as_float_array("y_train", y_train)
        same_length(x_train=xt, y_train=yt)
    order = np.argsort(x_)
    x_, m, sd = x_[order], m[order], np.sqrt(v[order])
    line = ax.plot(x_, m, label=label, color=color)[0]
    ax.fill_between(x_, m - 1.96 * sd, m + 1.96 * sd, alpha=0.2, color=line.get_color(),
                    label="95% band", linewidth=0)
    if samples is not None:
        ax.plot(x_, s[:, order].T, color=line.get_color(), alpha=0.35, linewidth=0.8)
    if x_train is not None:
        ax.scatter(xt, yt, s=14, color="black", zorder=3, label="observations")
