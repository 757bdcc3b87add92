"""A page's own code against the pr_utils copy that later pages and the scaling table use.

A page writes out what it teaches (a model class, a training loop, a baseline) and
pr_utils keeps a copy for reuse. Each test here reads the page's definition from the
notebook itself (its import statements, then the named ``def`` or ``class``), runs it
on small inputs and checks that it computes what pr_utils' copy computes: if one of
the two changes, the test fails.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gpytorch
import nbformat
import numpy as np
import torch

from pr_utils.gp import KISSGPModel, SVGPModel, train_gp
from pr_utils.scaling import SCALING_SETTINGS, scaling_data
from pr_utils.seg import gmm_segmenter, make_unet

BOOK = Path(__file__).resolve().parents[1] / "book"


def page_code(page: str, *names: str, **page_globals: Any) -> dict[str, Any]:
    """The definitions ``names`` of ``book/<page>.ipynb``, run after the page's imports,
    with ``page_globals`` standing in for the page's variables that they read."""
    nb = nbformat.read(BOOK / f"{page}.ipynb", as_version=4)
    imports: list[ast.stmt] = []
    found: dict[str, list[ast.stmt]] = {name: [] for name in names}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.append(node)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in found:
                found[node.name].append(node)
    counts = {name: len(nodes) for name, nodes in found.items()}
    assert all(n == 1 for n in counts.values()), f"{page} defines these how many times: {counts}"
    module = ast.Module(body=[*imports, *(found[name][0] for name in names)], type_ignores=[])
    namespace: dict[str, Any] = dict(page_globals)
    exec(compile(module, str(BOOK / f"{page}.ipynb"), "exec"), namespace)
    return namespace


def predictions(model: Any, likelihood: Any, x: torch.Tensor) -> np.ndarray:
    model.eval()
    likelihood.eval()
    with torch.no_grad(), gpytorch.settings.fast_pred_var():
        pred = likelihood(model(x))
    return np.stack([pred.mean.numpy(), pred.variance.numpy()])


def start(model: Any, likelihood: Any, base_kernel: Any) -> None:
    likelihood.noise = SCALING_SETTINGS["all"]["init_noise"]
    base_kernel.lengthscale = SCALING_SETTINGS["all"]["init_lengthscale"]


def test_1_4_svgp_class_and_loop_are_pr_utils_svgp_and_train_gp() -> None:
    page = page_code("ch1_4_scalable_gps", "SVGP", "fit_svgp")
    x, y = (t.double() for t in scaling_data(300, seed=1))
    x_test = torch.linspace(0, 10, 50, dtype=torch.float64)
    settings = {"batch_size": 64, "lr": 0.02, "lr_final": 0.002, "seed": 1,
                "ngd_lr": SCALING_SETTINGS["svgp"]["ngd_lr"],
                "ngd_lr_final": SCALING_SETTINGS["svgp"]["ngd_lr_final"]}
    fits = []
    for model_class in (page["SVGP"], SVGPModel):
        torch.manual_seed(0)  # q(u) starts at the prior plus a little random noise
        model = model_class(torch.linspace(0, 10, 16, dtype=torch.float64)).double()
        likelihood = gpytorch.likelihoods.GaussianLikelihood().double()
        start(model, likelihood, model.covar_module.base_kernel)
        if model_class is SVGPModel:
            train_gp(model, likelihood, x, y, iterations=40, progress=False, **settings)
        else:
            page["fit_svgp"](model, likelihood, x, y, steps=40, **settings)
        fits.append(predictions(model, likelihood, x_test))
    assert np.all(np.isfinite(fits[0])) and np.ptp(fits[0][0]) > 0.5  # it has learned a curve
    np.testing.assert_allclose(fits[0], fits[1], rtol=0, atol=1e-9)


def test_1_4_kiss_gp_class_and_loop_are_pr_utils_kissgp_and_train_gp() -> None:
    page = page_code("ch1_4_scalable_gps", "KISSGP", "fit_exact")
    kiss = SCALING_SETTINGS["kiss"]
    x, y = (t.to(getattr(torch, kiss["dtype"])) for t in scaling_data(300, seed=1))
    x_test = torch.linspace(0, 10, 50, dtype=x.dtype)
    fits = []
    for model_class in (page["KISSGP"], KISSGPModel):
        torch.manual_seed(0)  # CG estimates the log-determinant with random probe vectors
        likelihood = gpytorch.likelihoods.GaussianLikelihood().to(x.dtype)
        model = model_class(x, y, likelihood, 100, (0.0, 10.0)).to(x.dtype)
        start(model, likelihood, model.covar_module.base_kernel.base_kernel)
        with (gpytorch.settings.max_preconditioner_size(kiss["preconditioner_size"]),
              gpytorch.settings.use_toeplitz(kiss["use_toeplitz"]),
              gpytorch.settings.eval_cg_tolerance(kiss["eval_cg_tolerance"])):
            if model_class is KISSGPModel:
                train_gp(model, likelihood, x, y, iterations=15, lr=kiss["lr"], progress=False)
            else:
                page["fit_exact"](model, likelihood, x, y, iterations=15, lr=kiss["lr"])
            with gpytorch.settings.max_root_decomposition_size(kiss["love_rank"]):
                fits.append(predictions(model, likelihood, x_test))
    assert np.all(np.isfinite(fits[0])) and np.ptp(fits[0][0]) > 0.5
    np.testing.assert_allclose(fits[0], fits[1], rtol=0, atol=1e-9)


def test_3_1_gaussian_mixture_is_pr_utils_gmm_segmenter() -> None:
    rng = np.random.default_rng(0)  # a small "brain": three tissues of distinct brightness
    labels = rng.integers(0, 3, (24, 24, 10))
    t1 = np.array([0.5, 0.69, 0.86])[labels] + rng.normal(0, 0.05, labels.shape)
    t1 = t1.astype(np.float32)  # as load_mni152's
    mask = np.zeros(labels.shape, bool)
    mask[3:21, 2:22] = True
    train_z, test_z = np.arange(0, 6), np.arange(7, 10)
    page = page_code("ch3_1_segmentation_basics", "fit_gmm", "gmm_segment",
                     brain=SimpleNamespace(t1=t1, mask=mask))
    ours = page["gmm_segment"](t1[:, :, test_z], mask[:, :, test_z], *page["fit_gmm"](train_z))
    library = gmm_segmenter(t1[:, :, train_z], mask[:, :, train_z])(t1[:, :, test_z],
                                                                      mask[:, :, test_z])
    inside = mask[:, :, test_z]
    assert np.mean(ours[inside] == labels[:, :, test_z][inside]) > 0.9  # it finds the tissues
    assert not ours[~inside].any()
    np.testing.assert_array_equal(ours, library)


def test_3_2_unet_is_pr_utils_make_unet() -> None:
    page = page_code("ch3_2_unet_and_metrics", "make_unet")
    torch.manual_seed(0)
    ours = page["make_unet"]()
    torch.manual_seed(0)
    library = make_unet(in_channels=3)
    assert str(ours) == str(library)  # the same layers, in the same order
    x = torch.rand(2, 3, 32, 24)
    with torch.no_grad():  # and the same initial weights, drawn in the same order
        torch.testing.assert_close(ours.eval()(x), library.eval()(x), rtol=0, atol=0)
