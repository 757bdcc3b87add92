"""Chapter 1.4's scaling benchmark: one regression problem, four methods
(scikit-learn's exact GP, GPyTorch's exact GP, KISS-GP and SVGP), each fitted, timed
and scored on held-out data by :func:`scaling_run`.

``make gp-scaling`` (``tools/gp_scaling.py``) runs it for every method and size and
ships the table with the package (:func:`load_scaling_results`); the notebook runs the
small sizes live. The data are synthetic on purpose: with a known noise floor
(``SCALING_NOISE_SD``) every RMSE and NLPD can be read against the best possible
value, at any n up to 10^6.
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from importlib.resources import files
from typing import Any

import gpytorch
import numpy as np
import torch
from linear_operator.utils.warnings import NumericalWarning

from pr_utils._checks import as_device, positive
from pr_utils.gp import (
    ExactGPModel,
    KISSGPModel,
    SVGPModel,
    coverage,
    gaussian_nlpd,
    predict,
    rmse,
    train_gp,
)
from pr_utils.runtime import quiet_library_warnings

SCALING_METHODS = ("sklearn", "exact", "kiss", "svgp")
SCALING_NOISE_SD = 0.1
SCALING_TEST_N = 2000
# Each method has its own numerical settings; sharing the exact GP's made KISS-GP
# and SVGP slow or wrong at large n (see Chapter 1.4, "Traps met on the way").
SCALING_SETTINGS: dict[str, dict[str, Any]] = {
    "all": {  # scikit-learn uses only these, with its own L-BFGS-B in float64
        "init_lengthscale": 0.2,  # the default 0.69 settles on treating sin(17x) as noise
        "init_noise": 0.01,
    },
    "exact": {
        "dtype": "float32",
        "iterations": 50,  # Adam steps on the exact marginal likelihood
        "lr": 0.1,
        "preconditioner_size": 100,  # pivoted Cholesky rank for CG; 15 fails at n=5000
        "love_rank": 1000,  # LOVE rank for fast predictive variances
    },
    "kiss": {
        "dtype": "float64",  # CG in float32 diverged at n=10^5 (RMSE in the thousands)
        "iterations": 20,  # a good start needs few steps; each costs ~88 CG iterations at 10^5
        "lr": 0.1,
        "grid_size": 1000,
        "use_toeplitz": False,  # a dense 1000 x 1000 K_UU: cheaper rows than Toeplitz
        "preconditioner_size": 0,  # its backward pass through the interpolation cost 90%
        "eval_cg_tolerance": 0.001,  # the predictive mean's solve (default 0.01)
        "love_rank": 200,  # rank 100 gave 99% coverage at n=10^5
    },
    "svgp": {
        "dtype": "float64",  # float32 natural parameters fail (NotPSDError) at n=10^6
        "inducing": 256,
        "batch_size": 1024,
        "steps": 500,  # a fixed number of steps, whatever n
        "lr": 0.01,  # Adam on hyperparameters and inducing locations ...
        "lr_final": 0.001,  # ... decaying geometrically over the second half
        "ngd_lr": 0.1,  # natural-gradient step for q(u) ...
        "ngd_lr_final": 0.01,  # ... decaying too, so q(u) averages ~10^5 points, not 10^4
    },
}


def load_scaling_results() -> dict[str, Any]:
    """The table measured by ``make gp-scaling`` (``tools/gp_scaling.py``), shipped
    with the package so that the notebook can show sizes too slow to run live."""
    text = files("pr_utils").joinpath("resources/gp_scaling.json").read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


def scaling_data(n: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points of ``y = sin 3x + 0.3 sin 17x + noise``, ``x ~ U(0, 10)``, float32."""
    positive("n", n, integer=True)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 10.0, n)
    y = np.sin(3 * x) + 0.3 * np.sin(17 * x) + SCALING_NOISE_SD * rng.standard_normal(n)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def _fit_and_predict(method: str, cfg: dict[str, Any], model: gpytorch.models.GP,
                     likelihood: gpytorch.likelihoods.Likelihood, x: torch.Tensor,
                     y: torch.Tensor, x_test: torch.Tensor,
                     *, seed: int) -> tuple[float, float, torch.Tensor, torch.Tensor, list[str]]:
    with contextlib.ExitStack() as stack:
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        # The libraries' own deprecation noise is dropped (quiet_library_warnings);
        # GPyTorch's NumericalWarnings (CG not converged, jitter added) are recorded
        # and returned, even under `python -W ignore`.
        quiet_library_warnings()
        warnings.simplefilter("always", NumericalWarning)
        if method == "kiss":
            stack.enter_context(gpytorch.settings.use_toeplitz(cfg["use_toeplitz"]))
            stack.enter_context(gpytorch.settings.eval_cg_tolerance(cfg["eval_cg_tolerance"]))
        if method != "svgp":
            stack.enter_context(
                gpytorch.settings.max_preconditioner_size(cfg["preconditioner_size"]))
        start = time.perf_counter()
        if method == "svgp":
            train_gp(model, likelihood, x, y, iterations=cfg["steps"], lr=cfg["lr"],
                     lr_final=cfg["lr_final"], batch_size=cfg["batch_size"],
                     ngd_lr=cfg["ngd_lr"], ngd_lr_final=cfg["ngd_lr_final"], progress=False,
                     seed=seed)
        else:
            train_gp(model, likelihood, x, y, iterations=cfg["iterations"], lr=cfg["lr"],
                     progress=False)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        if method == "svgp":  # predictive variances are cheap and exact given q(u)
            mean, var = predict(model, likelihood, x_test)
        else:
            with (gpytorch.settings.fast_pred_var(),
                  gpytorch.settings.max_root_decomposition_size(cfg["love_rank"])):
                mean, var = predict(model, likelihood, x_test)
        predict_s = time.perf_counter() - start
    messages = sorted({str(w.message)[:120] for w in caught
                       if issubclass(w.category, NumericalWarning)})
    return fit_s, predict_s, mean, var, messages


def _check_setting(key: str, value: Any) -> None:
    """Raise unless ``value`` is a valid value of the scaling setting ``key``."""
    if key == "dtype":
        if value not in ("float32", "float64"):
            raise ValueError(f"setting 'dtype' must be 'float32' or 'float64', got {value!r}")
    elif key == "use_toeplitz":
        if not isinstance(value, bool):
            raise TypeError(f"setting 'use_toeplitz' must be a bool, got {value!r}")
    elif key == "preconditioner_size":
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"setting 'preconditioner_size' must be an int >= 0, got {value!r}")
    elif key in ("init_lengthscale", "init_noise"):
        if value is not None:
            positive(f"setting {key!r}", value)
    else:  # counts are ints; step sizes and tolerances are numbers; all positive
        integer = key in ("iterations", "grid_size", "love_rank", "inducing", "batch_size",
                          "steps")
        positive(f"setting {key!r}", value, integer=integer)


def _scaling_settings(method: str, device: Any, overrides: Any
                      ) -> tuple[dict[str, Any], dict[str, Any], torch.device]:
    """The checked arguments of :func:`scaling_run`: its two settings dicts and device."""
    if method not in SCALING_METHODS:
        raise ValueError(f"method must be one of {SCALING_METHODS}, got {method!r}")
    checked = as_device("device", device) or torch.device("cpu")
    if method == "sklearn" and checked.type != "cpu":
        raise ValueError(f"scikit-learn runs on the CPU only: device must be None or 'cpu' "
                         f"for method 'sklearn', got {device!r}")
    if overrides is not None and not isinstance(overrides, dict):
        raise TypeError(f"overrides must be a dict or None, got {type(overrides).__name__}")
    init = dict(SCALING_SETTINGS["all"])
    cfg = dict(SCALING_SETTINGS.get(method, {}))
    for key, value in (overrides or {}).items():
        if key in init:
            init[key] = value
        elif key in cfg:
            cfg[key] = value
        else:
            raise ValueError(f"unknown setting {key!r} for method {method!r}")
        _check_setting(key, value)
    return init, cfg, checked


def scaling_run(method: str, n: int, *, device: torch.device | None = None, seed: int = 0,
                overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fit one method on ``n`` training points; time it and score it on held-out data.

    Returns ``method``, ``n``, ``fit_s``, ``predict_s`` (for SCALING_TEST_N points),
    ``rmse``, ``nlpd``, ``coverage`` of the 95% band and ``numerical_warnings`` (the
    distinct NumericalWarning messages GPyTorch gave, usually none).

    ``overrides`` replaces entries of ``SCALING_SETTINGS["all"]`` or of the method's
    settings, to reproduce the traps of Chapter 1.4 (``init_lengthscale`` or
    ``init_noise`` set to None keeps the library's default start). ``device``
    (default the CPU) must be None or the CPU for ``"sklearn"``.
    """
    init, cfg, device = _scaling_settings(method, device, overrides)
    positive("n", n, integer=True)
    x, y = scaling_data(n, seed=seed)
    x_test, y_test = scaling_data(SCALING_TEST_N, seed=seed + 10_000)
    torch.manual_seed(seed)
    messages: list[str] = []
    if method == "sklearn":
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        kernel = (ConstantKernel(1.0) * RBF(init["init_lengthscale"] or 1.0)
                  + WhiteKernel(init["init_noise"] or 1.0))
        gpr = GaussianProcessRegressor(kernel, normalize_y=False, random_state=seed)
        start = time.perf_counter()
        gpr.fit(x.numpy()[:, None].astype(np.float64), y.numpy().astype(np.float64))
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        mean_np, sd = gpr.predict(x_test.numpy()[:, None].astype(np.float64), return_std=True)
        predict_s = time.perf_counter() - start
        mean, var = mean_np, sd**2  # WhiteKernel: sd already includes the noise
    else:
        dtype = getattr(torch, cfg["dtype"])
        x, y, xt = (t.to(device=device, dtype=dtype) for t in (x, y, x_test))
        likelihood = gpytorch.likelihoods.GaussianLikelihood().to(device=device, dtype=dtype)
        if init["init_noise"] is not None:
            likelihood.noise = init["init_noise"]
        model: gpytorch.models.GP
        if method == "svgp":
            inducing = torch.linspace(0.0, 10.0, cfg["inducing"], device=device, dtype=dtype)
            model = SVGPModel(inducing)
        elif method == "kiss":
            model = KISSGPModel(x, y, likelihood, grid_size=cfg["grid_size"],
                                grid_bounds=(0.0, 10.0))
        else:
            model = ExactGPModel(x, y, likelihood)
        model = model.to(device=device, dtype=dtype)
        base = model.covar_module.base_kernel
        rbf = base.base_kernel if method == "kiss" else base
        if init["init_lengthscale"] is not None:
            rbf.lengthscale = init["init_lengthscale"]
        fit_s, predict_s, mean_t, var_t, messages = _fit_and_predict(
            method, cfg, model, likelihood, x, y, xt, seed=seed)
        mean, var = mean_t.cpu().numpy(), var_t.cpu().numpy()
    y_np = y_test.numpy()
    return {"method": method, "n": n, "fit_s": fit_s, "predict_s": predict_s,
            "rmse": rmse(y_np, mean), "nlpd": gaussian_nlpd(y_np, mean, var),
            "coverage": coverage(y_np, mean, var), "numerical_warnings": messages}
