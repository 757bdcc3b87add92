import gpytorch
import numpy as np
import pytest
import torch
from common import learning_rates
from linear_operator.utils.errors import NanError, NotPSDError
from matplotlib.figure import Figure
from torch.optim.optimizer import register_optimizer_step_post_hook

from pr_utils import gp
from pr_utils.scaling import scaling_data


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


@pytest.mark.parametrize("kwargs, error, message", [
    ({"lengthscale": np.inf}, ValueError, "lengthscale must be a finite positive number, got inf"),
    ({"variance": float("inf")}, ValueError, "variance must be a finite positive number"),
    ({"lengthscale": float("nan")}, ValueError, "lengthscale must be positive, got nan"),
    ({"x1": np.array([1.0 + 2.0j])}, TypeError, "x1 must be real, got dtype complex128"),
])
def test_rbf_kernel_rejects_infinite_hyperparameters_and_complex_input(
        kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    args = {"x1": [0.0, 1.0], "x2": [1.0], **kwargs}
    with pytest.raises(error, match=message):
        gp.rbf_kernel(args.pop("x1"), args.pop("x2"), **args)  # type: ignore[arg-type]


def test_rbf_kernel_accepts_numpy_scalars() -> None:
    x = np.linspace(0, 1, 4)
    assert np.array_equal(gp.rbf_kernel(x, x, variance=np.float64(2.0), lengthscale=np.int64(3)),
                          gp.rbf_kernel(x, x, variance=2.0, lengthscale=3))


# Largest |float32 GPyTorch - float64 closed form| of the predictive variance in
# test_exact_gp_training_lowers_the_loss_and_fits: measured 4.0e-5 to 9.5e-5 over data seeds
# 1-5 with 1 and 4 threads, where the variances are 0.010-0.012 and their posterior part
# k(x*, x*) - k*'(K + s2 I)^-1 k* is 7e-4 to 8e-4 at its smallest.
VAR_GAP = 2e-4


def _floor(x: torch.Tensor, y: torch.Tensor) -> float:
    """RMSE of the true function on these points: the best any model can do."""
    xd, yd = x.double().numpy(), y.double().numpy()
    return float(np.sqrt(np.mean((yd - np.sin(3 * xd) - 0.3 * np.sin(17 * xd)) ** 2)))


def test_exact_gp_training_lowers_the_loss_and_fits() -> None:
    x, y = scaling_data(600, seed=1)
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    likelihood.noise = 0.01
    model = gp.ExactGPModel(x, y, likelihood)
    model.covar_module.base_kernel.lengthscale = 0.2
    losses = gp.train_gp(model, likelihood, x, y, iterations=40, lr=0.1, progress=False)
    assert len(losses) == 40 and losses[-1] < losses[0] - 0.1  # measured drop 0.19-0.23
    x_test, y_test = scaling_data(300, seed=2)
    mean, var = gp.predict(model, likelihood, x_test)
    # RMSE / floor measured 1.055-1.132 and coverage 0.937-0.973 over data seeds
    # 1-5 with 1 and 4 threads (600 points hold ~20 per period of sin 17x)
    assert gp.rmse(y_test, mean) < 1.2 * _floor(x_test, y_test)
    assert abs(gp.coverage(y_test, mean, var) - 0.95) < 0.04
    # The predictive variance of y, written out in float64 from the learned
    # hyperparameters: k(x*, x*) - k*' (K + s2 I)^-1 k* + s2, within VAR_GAP (measured).
    with torch.no_grad():
        lengthscale = float(model.covar_module.base_kernel.lengthscale)
        outputscale = float(model.covar_module.outputscale)
        noise = float(likelihood.noise)
    xd, xs = x.double().numpy(), x_test.double().numpy()
    k = gp.rbf_kernel(xd, xd, variance=outputscale, lengthscale=lengthscale)
    k_star = gp.rbf_kernel(xs, xd, variance=outputscale, lengthscale=lengthscale)
    half = np.linalg.solve(np.linalg.cholesky(k + noise * np.eye(len(xd))), k_star.T)
    closed_form = outputscale - (half**2).sum(axis=0) + noise
    assert np.abs(var.numpy() - closed_form).max() < VAR_GAP


def test_svgp_fits_to_the_noise_floor_on_minibatches() -> None:
    x, y = scaling_data(2000, seed=0)
    torch.manual_seed(0)  # q(u) starts at the prior plus a little random noise
    model = gp.SVGPModel(torch.linspace(0, 10, 64))
    model.covar_module.base_kernel.lengthscale = 0.2
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    likelihood.noise = 0.01
    # 150 steps of 256 points (each point seen ~19 times), both step sizes decaying
    losses = gp.train_gp(model, likelihood, x, y, iterations=150, lr=0.02, lr_final=0.002,
                         batch_size=256, ngd_lr=0.1, ngd_lr_final=0.01, progress=False)
    assert len(losses) == 150
    x_test, y_test = scaling_data(1000, seed=100)
    mean, var = gp.predict(model, likelihood, x_test)
    # RMSE / floor measured 1.022-1.038 and coverage 0.958-0.977 over seeds 0-4
    # (data, test points and q(u)'s start) with 1 and 4 threads
    assert gp.rmse(y_test, mean) < 1.07 * _floor(x_test, y_test)
    assert abs(gp.coverage(y_test, mean, var) - 0.95) < 0.04


def test_train_gp_holds_each_step_for_half_the_run_then_shrinks_it_geometrically() -> None:
    x, y = scaling_data(200, seed=1)
    model = gp.SVGPModel(torch.linspace(0, 10, 16))
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    with learning_rates(torch.optim.Adam) as adam, learning_rates(gpytorch.optim.NGD) as ngd:
        gp.train_gp(model, likelihood, x, y, iterations=9, lr=0.02, lr_final=0.002,
                    batch_size=50, ngd_lr=0.1, ngd_lr_final=0.01, progress=False)
    # 9 steps: the first 4 at the start value, then 5 from it down to the final one
    for seen, first, last in ((adam, 0.02, 0.002), (ngd, 0.1, 0.01)):
        expected = [first] * 4 + [first * (last / first) ** (k / 4) for k in range(5)]
        assert seen[:5] == [first] * 5 and np.allclose(seen, expected, rtol=1e-12), seen
    x, y = scaling_data(20, seed=1)
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    with learning_rates(torch.optim.Adam) as adam:  # no lr_final: a constant step
        gp.train_gp(gp.ExactGPModel(x, y, likelihood), likelihood, x, y, iterations=3, lr=0.05,
                    progress=False)
    assert adam == [0.05] * 3


def test_train_gp_rejects_bad_input() -> None:
    x, y = scaling_data(20)
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


def test_train_gp_rejects_non_finite_data() -> None:
    x, y = scaling_data(20)
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    model = gp.ExactGPModel(x, y, likelihood)
    bad_x, bad_y = x.clone(), y.clone()
    bad_x[3], bad_y[5] = float("nan"), float("inf")
    with pytest.raises(ValueError, match=r"x must be finite \(no NaN or inf\)"):
        gp.train_gp(model, likelihood, bad_x, y, progress=False)
    with pytest.raises(ValueError, match=r"y must be finite \(no NaN or inf\)"):
        gp.train_gp(model, likelihood, x, bad_y, progress=False)
    with pytest.raises(ValueError, match="lr_final must be positive"):
        gp.train_gp(model, likelihood, x, y, lr_final=0.0, progress=False)


def test_train_gp_stops_at_a_non_finite_loss_and_names_the_iteration() -> None:
    x, y = scaling_data(50)
    y = y * 1e20  # finite in float32, but its square overflows: the loss is inf
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    model = gp.ExactGPModel(x, y, likelihood)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(gp.GPTrainingError, match=r"the loss became inf at iteration 0 "):
        gp.train_gp(model, likelihood, x, y, iterations=5, progress=False)
    # it stops before the step: the parameters are unchanged
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))


@pytest.mark.filterwarnings("ignore:A not p.d., added jitter")  # the retries before
def test_train_gp_explains_a_not_psd_covariance() -> None:
    # A natural-gradient step above 1 overshoots: the precision of q(u) stops being
    # positive definite after two steps, and GPyTorch raises NotPSDError.
    x, y = scaling_data(200, seed=1)
    model = gp.SVGPModel(torch.linspace(0, 10, 32))
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    with pytest.raises(gp.GPTrainingError, match="not positive definite at iteration 2 ") as info:
        gp.train_gp(model, likelihood, x, y, iterations=20, batch_size=50, ngd_lr=2.0,
                    progress=False)
    message = str(info.value)
    for advice in ("float64", "jitter", "ngd_lr", "TrilNaturalVariationalDistribution"):
        assert advice in message
    assert isinstance(info.value.__cause__, NotPSDError)


def test_train_gp_blames_nan_parameters_not_the_training() -> None:
    # A parameter that is NaN before training used to be reported as "a parameter
    # diverged at iteration 0", with advice about learning rates and jitter.
    x, y = scaling_data(200, seed=1)
    for where in ("covar_module.raw_outputscale", "likelihood.noise_covar.raw_noise"):
        likelihood = gpytorch.likelihoods.GaussianLikelihood()
        model = gp.ExactGPModel(x, y, likelihood)  # the likelihood is one of its modules
        with torch.no_grad():
            model.get_parameter(where).fill_(float("nan"))
        with pytest.raises(ValueError, match=rf"model parameter '{where}' holds NaN or inf "
                                             r"before training: re-initialise the model"):
            gp.train_gp(model, likelihood, x, y, iterations=5, progress=False)


def test_train_gp_explains_a_nan_covariance() -> None:
    # A parameter that becomes NaN during training (here set so after the first step).
    x, y = scaling_data(200, seed=1)
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    model = gp.ExactGPModel(x, y, likelihood)

    def poison(*_: object) -> None:
        with torch.no_grad():
            model.covar_module.raw_outputscale.fill_(float("nan"))

    handle = register_optimizer_step_post_hook(poison)
    try:
        with pytest.raises(gp.GPTrainingError, match=r"contains NaN .* at iteration 1 ") as info:
            gp.train_gp(model, likelihood, x, y, iterations=5, progress=False)
    finally:
        handle.remove()
    assert isinstance(info.value.__cause__, NanError)


def test_models_check_their_training_data() -> None:
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    with pytest.raises(ValueError, match="lengths must match"):
        gp.ExactGPModel(torch.zeros(5), torch.zeros(4), likelihood)
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        gp.ExactGPModel(np.zeros(5), torch.zeros(5), likelihood)
    with pytest.raises(ValueError, match="grid_size must be positive"):
        gp.KISSGPModel(torch.zeros(5), torch.zeros(5), likelihood, grid_size=0)


def test_models_reject_non_finite_data_and_reversed_grids() -> None:
    # NaN in train_y used to be accepted, and every prediction was then NaN.
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    x, y = torch.linspace(0, 1, 5), torch.zeros(5)
    with pytest.raises(ValueError, match=r"train_y must be finite \(no NaN or inf\), got 1 "):
        gp.ExactGPModel(x, torch.tensor([0.0, float("nan"), 0.0, 0.0, 0.0]), likelihood)
    with pytest.raises(ValueError, match=r"train_x must be finite"):
        gp.ExactGPModel(torch.tensor([0.0, float("inf"), 1.0, 2.0, 3.0]), y, likelihood)
    with pytest.raises(ValueError, match=r"train_x must be finite"):
        gp.KISSGPModel(torch.tensor([0.0, float("nan"), 1.0, 2.0, 3.0]), y, likelihood)
    with pytest.raises(ValueError, match=r"grid_bounds must be \(low, high\) with low < high, "
                                         r"got \(10\.0, 0\.0\)"):
        gp.KISSGPModel(x, y, likelihood, grid_size=10, grid_bounds=(10.0, 0.0))
    with pytest.raises(TypeError, match=r"grid_bounds must be a pair"):
        gp.KISSGPModel(x, y, likelihood, grid_size=10, grid_bounds=(0.0,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grid_bounds must be finite"):
        gp.KISSGPModel(x, y, likelihood, grid_size=10, grid_bounds=(0.0, np.inf))
    model = gp.KISSGPModel(x, y, likelihood, grid_size=np.int64(10),
                           grid_bounds=(np.float32(0.0), np.int64(1)))
    assert model.covar_module.base_kernel.grid[0].shape[0] == 10


def test_train_gp_and_predict_reject_what_they_used_to_accept() -> None:
    x, y = scaling_data(20)
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    model = gp.ExactGPModel(x, y, likelihood)
    bad_y = y.clone()
    bad_y[4] = float("nan")
    model.set_train_data(targets=bad_y, strict=False)  # NaN stored in the model, clean y given
    with pytest.raises(ValueError, match=r"the model's train_targets must be finite"):
        gp.train_gp(model, likelihood, x, y, iterations=1, progress=False)
    with pytest.raises(ValueError, match=r"the model's train_targets must be finite"):
        gp.predict(model, likelihood, x)  # every prediction would be NaN
    model.set_train_data(targets=y, strict=False)
    before = [p.detach().clone() for p in model.parameters()]
    for lr, message in ((float("inf"), "lr must be a finite positive number, got inf"),
                        (1e300, r"lr=1e\+300 does not fit the model's torch\.float32")):
        with pytest.raises(ValueError, match=message):
            gp.train_gp(model, likelihood, x, y, iterations=1, lr=lr, progress=False)
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
    with pytest.raises(ValueError, match="ngd_lr must be a finite positive number"):
        gp.train_gp(gp.SVGPModel(torch.linspace(0, 10, 4)), likelihood, x, y, batch_size=4,
                    ngd_lr=np.inf, progress=False)
    x_nan = x.clone()
    x_nan[0] = float("nan")
    with pytest.raises(ValueError, match=r"x must be finite \(no NaN or inf\)"):
        gp.predict(model, likelihood, x_nan)


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


def test_metrics_agree_with_gpytorch_metrics() -> None:
    # pr_utils.gp keeps its NumPy metrics (per-point, checked inputs, a coverage
    # fraction); on a random example they equal gpytorch.metrics as follows.
    rng = np.random.default_rng(0)
    n = 50
    y, m = rng.normal(size=n), rng.normal(size=n)
    a = rng.normal(size=(n, n))
    cov = a @ a.T / n + 0.5 * np.eye(n)  # a full predictive covariance
    v = np.diag(cov).copy()
    t = torch.tensor
    full = gpytorch.distributions.MultivariateNormal(t(m), t(cov))
    diag = gpytorch.distributions.MultivariateNormal(t(m), torch.diag(t(v)))
    metrics = gpytorch.metrics
    assert gp.rmse(y, m) == pytest.approx(
        float(metrics.mean_squared_error(full, t(y), squared=False)), rel=1e-12)
    # Ours is the mean of the per-point (marginal) log losses: GPyTorch's mean log
    # loss, and its NLPD of the joint density when the covariance is diagonal ...
    ours = gp.gaussian_nlpd(y, m, v)
    # (gpytorch.metrics holds pi as a float32 tensor: 0.5 log(pi32 / pi) = 1.4e-8)
    msll = float(metrics.mean_standardized_log_loss(full, t(y)))
    assert ours == pytest.approx(msll, abs=3e-8)
    assert ours == pytest.approx(
        float(metrics.negative_log_predictive_density(diag, t(y))), rel=1e-12)
    # ... while GPyTorch's NLPD of a full covariance is the joint density per point:
    # joint - ours = (log det R + r'C^-1 r - r'D^-1 r) / 2n, with r = y - m, D = diag(C)
    # and R = D^-1/2 C D^-1/2 the predictive correlation matrix.
    r = y - m
    corr = cov / np.sqrt(np.outer(v, v))
    gap = (np.linalg.slogdet(corr)[1] + r @ np.linalg.solve(cov, r) - r @ (r / v)) / (2 * n)
    joint = float(metrics.negative_log_predictive_density(full, t(y)))
    assert abs(gap) > 0.01 and joint - ours == pytest.approx(gap, rel=1e-9)
    # GPyTorch reports |coverage - 0.95| of the central 95% interval.
    cover = gp.coverage(y, m, v)
    assert 0 < cover < 0.95
    assert abs(cover - 0.95) == pytest.approx(
        float(metrics.quantile_coverage_error(full, t(y), 95.0)), abs=1e-6)  # float32 there


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
    empty = Figure().subplots()
    for kwargs in ({"x_train": [0.5]}, {"y_train": [0.0]}):
        with pytest.raises(ValueError, match="give both x_train and y_train, or neither"):
            gp.plot_posterior(empty, x, np.zeros(10), np.ones(10), **kwargs)
    with pytest.raises(ValueError, match="samples must have shape"):
        gp.plot_posterior(empty, x, np.zeros(10), np.ones(10), samples=np.zeros((2, 9)))
    assert not empty.lines and not empty.collections, "checked before anything is drawn"
