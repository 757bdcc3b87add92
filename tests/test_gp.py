import gpytorch
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from pr_utils import gp


def test_rbf_kernel_matches_gpytorch() -> None:
    x = np.linspace(0, 3, 7)
    kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel()).double()
    kernel.outputscale = torch.tensor(2.5, dtype=torch.float64)
    kernel.base_kernel.lengthscale = torch.tensor(0.7, dtype=torch.float64)
    with torch.no_grad():
        expected = kernel(torch.tensor(x)).to_dense().numpy()
    assert np.allclose(gp.rbf_kernel(x, x, variance=2.5, lengthscale=0.7), expected)


def test_rbf_kernel_shapes_and_errors() -> None:
    assert gp.rbf_kernel(np.zeros((4, 2)), np.ones((3, 2))).shape == (4, 3)
    with pytest.raises(ValueError, match="same number of columns"):
        gp.rbf_kernel(np.zeros((4, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="lengthscale must be positive"):
        gp.rbf_kernel([0.0], [1.0], lengthscale=0)
    with pytest.raises(TypeError, match="numeric"):
        gp.rbf_kernel(["a"], [1.0])
    with pytest.raises(ValueError, match="finite"):
        gp.rbf_kernel([np.nan], [1.0])


def test_exact_gp_training_lowers_the_loss_and_fits() -> None:
    x, y = gp.scaling_data(200, seed=1)
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    likelihood.noise = 0.01
    model = gp.ExactGPModel(x, y, likelihood)
    model.covar_module.base_kernel.lengthscale = 0.2
    losses = gp.train_gp(model, likelihood, x, y, iterations=40, lr=0.1, progress=False)
    assert len(losses) == 40 and losses[-1] < losses[0]
    x_test, y_test = gp.scaling_data(300, seed=2)
    mean, var = gp.predict(model, likelihood, x_test)
    assert gp.rmse(y_test, mean) < 0.2
    assert (var > 0).all()


def test_svgp_trains_on_minibatches() -> None:
    x, y = gp.scaling_data(2000, seed=3)
    model = gp.SVGPModel(torch.linspace(0, 10, 64))
    model.covar_module.base_kernel.lengthscale = 0.2
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    losses = gp.train_gp(model, likelihood, x, y, iterations=60, lr=0.01, batch_size=256,
                         progress=False)
    assert losses[-1] < losses[0]


def test_train_gp_rejects_bad_input() -> None:
    x, y = gp.scaling_data(20)
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    model = gp.ExactGPModel(x, y, likelihood)
    with pytest.raises(ValueError, match="lengths must match"):
        gp.train_gp(model, likelihood, x, y[:-1], progress=False)
    with pytest.raises(TypeError, match="floating-point"):
        gp.train_gp(model, likelihood, x.long(), y, progress=False)
    with pytest.raises(ValueError, match="batch_size must be None"):
        gp.train_gp(model, likelihood, x, y, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="iterations must be positive"):
        gp.train_gp(model, likelihood, x, y, iterations=0, progress=False)
    with pytest.raises(TypeError, match="ExactGP or ApproximateGP"):
        gp.train_gp(torch.nn.Linear(1, 1), likelihood, x, y, progress=False)  # type: ignore[arg-type]


def test_models_check_their_training_data() -> None:
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    with pytest.raises(ValueError, match="lengths must match"):
        gp.ExactGPModel(torch.zeros(5), torch.zeros(4), likelihood)
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        gp.ExactGPModel(np.zeros(5), torch.zeros(5), likelihood)
    with pytest.raises(ValueError, match="grid_size must be positive"):
        gp.KISSGPModel(torch.zeros(5), torch.zeros(5), likelihood, grid_size=0)


def test_metrics_on_known_values() -> None:
    y = np.array([0.0, 1.0, 2.0])
    assert gp.rmse(y, y + 1) == pytest.approx(1.0)
    # a standard normal at its mean: log density -0.5 log(2 pi)
    assert gp.gaussian_nlpd([0.0], [0.0], [1.0]) == pytest.approx(0.5 * np.log(2 * np.pi))
    assert gp.coverage([0.0, 3.0], [0.0, 0.0], [1.0, 1.0]) == 0.5
    with pytest.raises(ValueError, match="var must be positive"):
        gp.gaussian_nlpd([0.0], [0.0], [0.0])
    with pytest.raises(ValueError, match="lengths must match"):
        gp.coverage([0.0, 1.0], [0.0], [1.0])


def test_coverage_of_a_calibrated_gaussian_is_95_percent() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(1.0, 2.0, 100_000)
    assert gp.coverage(y, np.ones_like(y), np.full_like(y, 4.0)) == pytest.approx(0.95, abs=0.005)


def test_plot_posterior_draws_and_checks() -> None:
    fig = Figure()
    ax = fig.subplots()
    x = np.linspace(0, 1, 10)
    gp.plot_posterior(ax, x, np.zeros(10), np.ones(10), x_train=[0.5], y_train=[0.0],
                      samples=np.zeros((2, 10)))
    assert len(ax.lines) == 3 and len(ax.collections) == 2
    with pytest.raises(ValueError, match="non-negative"):
        gp.plot_posterior(ax, x, np.zeros(10), -np.ones(10))
    with pytest.raises(ValueError, match="samples must have shape"):
        gp.plot_posterior(ax, x, np.zeros(10), np.ones(10), samples=np.zeros((2, 9)))


def test_scaling_run_scores_a_method_and_rejects_unknown_ones() -> None:
    row = gp.scaling_run("sklearn", 300)
    assert set(row) == {"method", "n", "fit_s", "predict_s", "rmse", "nlpd", "coverage"}
    assert row["rmse"] < 0.2 and 0.8 < row["coverage"] <= 1.0
    with pytest.raises(ValueError, match="method must be one of"):
        gp.scaling_run("magic", 100)


def test_shipped_scaling_results_cover_every_method_up_to_1e5() -> None:
    result = gp.load_scaling_results()
    methods = {r["method"] for r in result["rows"]}
    assert methods == set(gp.SCALING_METHODS)
    assert max(r["n"] for r in result["rows"]) >= 100_000
    assert result["settings"] == gp.SCALING_SETTINGS, "re-run `make gp-scaling`"
