"""Browser test of the interactive figures (pr_utils.explore) on the built site.

Each figure is opened in headless Chromium with every request to another host refused,
in both editions. The test moves each control to a few settings, checks that the figure
changes, and compares what the page computed and shows (its ``prState``) with the same
quantity computed here in Python, from the data embedded in the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest
from playwright.sync_api import Browser

pytestmark = pytest.mark.site
EDITIONS = ["", "zh/"]


class Figure:
    """One interactive figure on an open page."""

    def __init__(self, page: Any, kind: str) -> None:
        self.page, self.kind = page, kind
        self.selector = f'.pr-explore[data-kind="{kind}"]'
        page.wait_for_function(f"document.querySelector('{self.selector}')?.prState !== undefined")
        self.data = json.loads(
            page.eval_on_selector(
                self.selector,
                "el => el.querySelector('script[type=\"application/json\"]').textContent",
            )
        )

    def state(self) -> dict[str, Any]:
        return self.page.eval_on_selector(self.selector, "el => el.prState")  # type: ignore[no-any-return]

    def set(self, **values: float) -> dict[str, Any]:
        """Move each named slider to the value nearest the one given; return the new state."""
        for name, value in values.items():
            options = next(c["values"] for c in self.data["controls"] if c["name"] == name)
            index = int(np.argmin(np.abs(np.asarray(options) - value)))
            self.page.eval_on_selector(
                f'{self.selector} input[data-name="{name}"]',
                "(el, i) => { el.value = i; el.dispatchEvent(new Event('input')); }",
                index,
            )
        return self.state()

    def text(self) -> str:
        return self.page.eval_on_selector(self.selector, "el => el.innerText")  # type: ignore[no-any-return]


@pytest.fixture
def open_figure(browser: Browser, base_url: str) -> Iterator[Any]:
    """open_figure(edition, page, kind): the figure, on a page that may not leave the site."""
    pages, errors, foreign = [], [], []

    def opener(edition: str, name: str, kind: str) -> Figure:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        pages.append(page)
        host = urlparse(base_url).netloc

        def route(r: Any) -> None:
            if urlparse(r.request.url).netloc in (host, ""):
                r.continue_()
            else:
                foreign.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base_url}{edition}book/{name}.html")
        return Figure(page, kind)

    yield opener
    for page in pages:
        page.close()
    assert not errors, f"script errors on the page: {errors}"
    assert not foreign, f"the page asked another host for {foreign}"


def rbf(a: np.ndarray, b: np.ndarray, variance: float, lengthscale: float) -> np.ndarray:
    return variance * np.exp(-((a[:, None] - b[None, :]) ** 2) / (2 * lengthscale**2))


@pytest.mark.parametrize("edition", EDITIONS)
def test_gp_posterior_agrees_with_python(open_figure: Any, edition: str) -> None:
    fig = open_figure(edition, "ch1_3_gaussian_processes", "gp")
    assert ("长度尺度" in fig.text()) == (edition == "zh/")
    x, y, grid = (np.asarray(fig.data[k]) for k in ("x", "y", "xs"))
    drawn = {fig.state()["d"]}
    for setting in (
        {"observed": 1},
        {"observed": 5, "lengthscale": 20.0, "noise": 1e-4},
        {"observed": 100, "lengthscale": 2.5, "variance": 2.0, "noise": 0.5},
    ):
        s = fig.set(**setting)
        idx = np.asarray(fig.data["order"][: s["n"]])
        K = rbf(x[idx], x[idx], s["variance"], s["lengthscale"]) + s["noise"] * np.eye(len(idx))
        K_s = rbf(grid, x[idx], s["variance"], s["lengthscale"])
        mean = K_s @ np.linalg.solve(K, y[idx])
        var = s["variance"] - np.einsum("ij,ji->i", K_s, np.linalg.solve(K, K_s.T))
        lml = (
            -0.5 * y[idx] @ np.linalg.solve(K, y[idx])
            - 0.5 * np.linalg.slogdet(K)[1]
            - 0.5 * len(idx) * np.log(2 * np.pi)
        )
        assert s["n"] == setting["observed"]
        # float64 in both; the worst case (5 points, noise 1e-4) has cond(K) about 1e4
        np.testing.assert_allclose(s["mean"], mean, atol=1e-8)
        np.testing.assert_allclose(s["sd"], np.sqrt(np.clip(var, 0, None)), atol=1e-6)
        assert abs(s["lml"] - lml) < 1e-8 * max(1.0, abs(lml))
        drawn.add(s["d"])
    assert len(drawn) == 4  # every setting drew another curve


@pytest.mark.parametrize("edition", EDITIONS)
def test_conditioning_agrees_with_python(open_figure: Any, edition: str) -> None:
    fig = open_figure(edition, "ch1_2_gaussians", "bivariate")
    assert ("条件均值" in fig.text()) == (edition == "zh/")
    drawn = {fig.state()["d"]}
    for rho, y1 in ((0.0, 2.0), (-0.5, -1.5), (0.95, 1.0)):
        s = fig.set(rho=rho, y1=y1)
        cov = np.array([[1.0, s["rho"]], [s["rho"], 1.0]])
        mean = cov[1, 0] / cov[0, 0] * s["y1"]  # the page's `condition`, for one observed entry
        var = cov[1, 1] - cov[1, 0] ** 2 / cov[0, 0]
        assert (s["rho"], s["y1"]) == pytest.approx((rho, y1))
        assert s["mean"] == pytest.approx(mean, abs=1e-12) and s["sd"] == pytest.approx(var**0.5)
        ys = np.asarray(s["ys"])
        density = np.exp(-0.5 * (ys - mean) ** 2 / var) / np.sqrt(2 * np.pi * var)
        np.testing.assert_allclose(s["density"], density, rtol=1e-12)
        drawn.add(s["d"])
    assert len(drawn) == 4


@pytest.mark.parametrize("edition", EDITIONS)
def test_decision_regions_agree_with_scikit_learn(open_figure: Any, edition: str) -> None:
    from scipy.stats import multivariate_normal
    from sklearn.linear_model import LogisticRegression

    fig = open_figure(edition, "ch1_1_generative_discriminative", "regions")
    assert ("逻辑回归" in fig.text()) == (edition == "zh/")
    X, y = np.asarray(fig.data["train_x"]), np.asarray(fig.data["train_y"])
    Xt, yt = np.asarray(fig.data["test_x"]), np.asarray(fig.data["test_y"])
    shown = set()
    for n, prior in ((10, 0.373), (40, 0.1), (426, 0.9)):
        s = fig.set(n=n, prior=prior)
        idx = next(f["train"] for f in fig.data["fits"] if f["n"] == s["n"])
        assert s["n"] == n == len(idx) and s["prior"] == pytest.approx(prior, abs=0.001)
        # generative: maximum-likelihood Gaussians refitted here, the slider's prior, Bayes' rule
        joint = np.column_stack([
            multivariate_normal(X[idx][y[idx] == c].mean(0),
                                np.cov(X[idx][y[idx] == c], rowvar=False, bias=True)).pdf(Xt)
            * (s["prior"] if c else 1 - s["prior"]) for c in (0, 1)])
        # The page's points are rounded to 6 significant digits, its parameters were fitted to
        # the unrounded ones: refitted here, the probabilities move by up to 1e-5 (measured 8e-6).
        np.testing.assert_allclose(s["test_gen"], joint[:, 1] / joint.sum(1), atol=1e-4)
        # discriminative: scikit-learn refitted on the same (rounded) cases
        logistic = LogisticRegression().fit(X[idx], y[idx])
        np.testing.assert_allclose(s["test_disc"], logistic.predict_proba(Xt)[:, 1], atol=1e-4)
        accuracy = s["accuracy"]
        assert accuracy["discriminative"] == pytest.approx(logistic.score(Xt, yt))
        assert accuracy["generative"] == pytest.approx(np.mean((joint[:, 1] > joint[:, 0]) == yt))
        shown.add(np.round(np.r_[s["grid_gen"][::97], s["grid_disc"][::97]], 6).tobytes())
    assert len(shown) == 3  # every setting painted other regions


@pytest.mark.parametrize("edition", EDITIONS)
def test_convolution_agrees_with_torch(open_figure: Any, edition: str) -> None:
    import base64

    import torch
    import torch.nn.functional as F

    fig = open_figure(edition, "ch2_3_cnn", "conv")
    assert ("滤波器" in fig.text()) == (edition == "zh/")
    size = fig.data["size"]
    pixels = np.frombuffer(base64.b64decode(fig.data["image"]), dtype=np.uint8)
    image = torch.tensor(pixels.reshape(size, size) / 255, dtype=torch.float64)[None, None]
    outputs = set()
    for preset in range(len(fig.data["kernels"])):
        s = fig.set(preset=preset)
        assert s["kernel"] == np.ravel(fig.data["kernels"][preset]).tolist()
        expected = F.conv2d(image, torch.tensor(s["kernel"], dtype=torch.float64).view(1, 1, 3, 3))
        np.testing.assert_allclose(s["output"], expected.flatten().numpy(), atol=1e-12)
        outputs.add(s["href"])
    # an edited weight: the page recomputes from the nine inputs
    fig.page.eval_on_selector(f'{fig.selector} input[data-name="w4"]',
                              "el => { el.value = 2; el.dispatchEvent(new Event('input')); }")
    s = fig.state()
    assert s["kernel"][4] == 2
    expected = F.conv2d(image, torch.tensor(s["kernel"], dtype=torch.float64).view(1, 1, 3, 3))
    np.testing.assert_allclose(s["output"], expected.flatten().numpy(), atol=1e-12)
    assert len(outputs) == len(fig.data["kernels"])


@pytest.mark.parametrize("edition", EDITIONS)
def test_lesion_threshold_agrees_with_monai(open_figure: Any, edition: str) -> None:
    import base64

    import torch
    from monai.metrics import compute_dice, compute_hausdorff_distance

    fig = open_figure(edition, "ch3_3_losses_imbalance", "threshold")
    assert ("灵敏度" in fig.text()) == (edition == "zh/")
    rows, cols = fig.data["shape"]
    k = np.frombuffer(base64.b64decode(fig.data["probability"]), dtype=np.uint8).reshape(rows, cols)
    truth = np.zeros(rows * cols, dtype=bool)
    truth[fig.data["reference"]] = True
    truth = truth.reshape(rows, cols)

    def as_tensor(mask: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(mask.astype(np.float64))[None, None]

    pictures = {fig.state()["href"]}
    for threshold in (0.1, 0.5, 0.9):
        s = fig.set(threshold=threshold)
        pred = k / 255 >= s["threshold"]
        tp = int((pred & truth).sum())
        assert (s["predicted"], s["reference"]) == (int(pred.sum()), int(truth.sum()))
        # the page counts exactly (float64); MONAI's compute_dice returns float32
        assert s["dice"] == pytest.approx(2 * tp / (pred.sum() + truth.sum()), rel=1e-12)
        monai_dice = compute_dice(as_tensor(pred), as_tensor(truth)).item()
        assert s["dice"] == pytest.approx(monai_dice, rel=1e-6)
        assert s["sensitivity"] == pytest.approx(tp / truth.sum(), rel=1e-12)
        assert s["precision"] == pytest.approx(tp / pred.sum(), rel=1e-12)
        # HD95 is MONAI's, embedded by Python: recomputed here from the embedded map (float32)
        hd = compute_hausdorff_distance(as_tensor(pred), as_tensor(truth), include_background=True,
                                        percentile=95, spacing=fig.data["spacing"]).item()
        assert s["hd95"] == pytest.approx(hd, rel=1e-6)
        pictures.add(s["href"])
    assert len(pictures) > 1  # the mask was redrawn


@pytest.mark.parametrize("edition", EDITIONS)
def test_voxel_losses_and_gradients_agree_with_torch(open_figure: Any, edition: str) -> None:
    import torch
    import torch.nn.functional as F
    from monai.losses import DiceLoss

    fig = open_figure(edition, "ch3_3_losses_imbalance", "losses")
    assert ("病灶体素数" in fig.text()) == (edition == "zh/")
    dice_loss = DiceLoss(to_onehot_y=True, softmax=True, batch=True, include_background=False,
                         smooth_nr=fig.data["smooth"], smooth_dr=fig.data["smooth"])  # the page's
    curves = {fig.state()["d"]}
    for setting in ({"p": 0.5, "m": 10, "q": 0.3, "b": 0.01}, {"p": 0.9, "m": 1, "b": 1e-4},
                    {"p": 0.02, "m": 2000, "q": 0.99, "b": 0.5}):
        s = fig.set(**setting)
        n, m = s["n"], int(s["m"])
        assert (s["p"], m) == (setting["p"], setting["m"])
        prob = torch.full((n,), s["b"], dtype=torch.float64)  # background voxels
        prob[:m] = s["q"]  # the lesion's
        prob[0] = s["p"]  # the marked lesion voxel
        logits = torch.stack([torch.zeros(n, dtype=torch.float64), torch.logit(prob)])[None]
        logits.requires_grad_()
        labels = torch.zeros((1, 1, n), dtype=torch.int64)
        labels[0, 0, :m] = 1
        for name, loss in (("ce", F.cross_entropy(logits, labels[:, 0])),  # mean over voxels
                           ("dice", dice_loss(logits, labels))):
            (grad,) = torch.autograd.grad(loss, logits)
            assert s[name] == pytest.approx(loss.item(), rel=1e-9), name
            assert s["d" + name] == pytest.approx(grad[0, 1, 0].item(), rel=1e-9), name
        curves.add(s["d"])
    assert len(curves) == 4  # every setting drew another gradient curve


@pytest.mark.parametrize("edition", EDITIONS)
def test_print_shows_the_static_figure_instead(open_figure: Any, edition: str) -> None:
    fig = open_figure(edition, "ch1_3_gaussian_processes", "gp")
    fig.page.emulate_media(media="print")  # as tools.pdf prints the book
    assert fig.page.eval_on_selector(fig.selector, "e => getComputedStyle(e).display") == "none"
    assert fig.page.eval_on_selector_all(".cell_output img", "imgs => imgs.length") >= 4
