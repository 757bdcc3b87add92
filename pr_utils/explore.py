"""Interactive figures that need no kernel: sliders in the page itself.

Each function returns one HTML output, self-contained: the data Python computed (or the
parameters it fitted) as JSON, the scripts of ``resources/explore`` inlined, no request
to another host. So the figure works on the static site offline, in Colab and in
Jupyter; in print (the PDF) it is hidden and the static matplotlib figure above it
stands. Where the page computes something in the browser (a GP posterior, a conditional,
a filter's output), the browser test (tests/test_interactive.py) checks it against
Python. The English and Chinese labels are in ``resources/explore/labels.json``; the
page's language picks one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from importlib import resources
from typing import Any

import numpy as np
from IPython.display import HTML

from pr_utils._checks import as_float_array, number, positive

SCRIPTS = resources.files("pr_utils.resources") / "explore"
Label = dict[str, str]


def _rounded(array: Any, digits: int = 6) -> Any:
    """Nested lists of floats to ``digits`` significant digits: the same text on every machine."""
    a = np.asarray(array, dtype=float)
    if a.ndim == 0:
        return float(f"{a:.{digits}g}")
    return [_rounded(v, digits) for v in a]


def control(name: str, values: Any, value: float, **extra: Any) -> dict[str, Any]:
    """A slider over ``values`` (Python chooses them), starting at the one nearest ``value``."""
    grid = as_float_array("values", values, ndim=(1,))
    if len(grid) < 2:
        raise ValueError(f"a slider needs at least two values, got {len(grid)}")
    index = int(np.argmin(np.abs(grid - value)))
    return {"name": name, "values": _rounded(grid), "index": index, **extra}


def widget(kind: str, data: dict[str, Any]) -> HTML:
    """The HTML of one interactive figure: ``data`` and ``resources/explore/<kind>.js``."""
    script = SCRIPTS / f"{kind}.js"
    if not script.is_file():
        raise ValueError(f"no interactive figure {kind!r}: no {script.name} in resources/explore")
    labels = json.loads((SCRIPTS / "labels.json").read_text(encoding="utf-8")).get(kind, {})
    for c in data.get("controls", []):
        c.setdefault("label", labels.get("controls", {}).get(c["name"], c["name"]))
    data = {k: v for k, v in labels.items() if k != "controls"} | data
    data["labels"] = labels.get("labels", {}) | data.get("labels", {})
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    uid = f"pr-explore-{kind}-{hashlib.sha1(payload.encode()).hexdigest()[:10]}"
    css = (SCRIPTS / "explore.css").read_text(encoding="utf-8")
    js = (SCRIPTS / "core.js").read_text(encoding="utf-8") + script.read_text(encoding="utf-8")
    return HTML(  # type: ignore[no-untyped-call]
        f'<div class="pr-explore" id="{uid}" data-kind="{kind}"><style>{css}</style>'
        f'<script type="application/json">{payload}</script>'
        "<noscript>This interactive figure needs JavaScript; the figure above shows it.</noscript>"
        f"</div><script>{js}\nPRExplore.mount({json.dumps(uid)});</script>"
    )


def figure_data(figure: HTML) -> dict[str, Any]:
    """The data ``figure`` embeds (labels and controls included), as its page reads them."""
    html = figure.data if isinstance(figure, HTML) else None
    match = re.search(r'<script type="application/json">(.*?)</script>', html or "", re.S)
    if match is None:
        raise TypeError("figure must be an interactive figure returned by pr_utils.explore")
    return json.loads(match[1].replace("<\\/", "</"))  # type: ignore[no-any-return]


def slider_values(figure: HTML) -> dict[str, np.ndarray]:
    """The values each slider of ``figure`` offers, by name: what the reader can set."""
    return {c["name"]: np.asarray(c["values"]) for c in figure_data(figure).get("controls", [])}


def gp_explorer(x: Any, y: Any, order: Any, x_star: Any, *, lengthscale: float = 5.0,
                variance: float = 1.0, noise: float = 0.05, observed: int = 10,
                xlabel: Label | None = None, ylabel: Label | None = None) -> HTML:
    """A GP posterior (squared-exponential kernel, zero mean) with sliders for the number of
    observations (taken in ``order``), the length scale, the signal variance and the noise."""
    xs, ys = as_float_array("x", x, ndim=(1,)), as_float_array("y", y, ndim=(1,))
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have the same length, got {len(xs)} and {len(ys)}")
    perm = np.asarray(order)
    if sorted(perm.tolist()) != list(range(len(xs))):
        raise ValueError(f"order must be a permutation of 0..{len(xs) - 1}")
    grid = as_float_array("x_star", x_star, ndim=(1,))
    span = float(grid.max() - grid.min())
    return widget("gp", {
        "x": _rounded(xs), "y": _rounded(ys), "order": perm.tolist(), "xs": _rounded(grid),
        "xlim": [float(grid.min()), float(grid.max())],
        "ylim": [float(np.floor(ys.min() - 1.5)), float(np.ceil(ys.max() + 1.5))],
        "xlabel": xlabel or "x", "ylabel": ylabel or "f(x)",
        "controls": [
            control("observed", np.arange(1, len(xs) + 1), observed),
            control("lengthscale", np.geomspace(span / 200, span, 41), lengthscale),
            control("variance", np.geomspace(0.1, 10, 21), variance),
            control("noise", np.geomspace(1e-4, 2, 30), noise),
        ],
    })


def conditioning_explorer(*, rho: float = 0.9, y1: float = 1.0) -> HTML:
    """A bivariate Gaussian with unit variances: sliders for the correlation ``rho`` and the
    observed ``y1``; the page draws the joint's 1- and 2-sigma ellipses and the conditional
    density of Y2 given Y1 = y1 beside the marginal."""
    if not -1 < rho < 1:
        raise ValueError(f"rho must lie strictly between -1 and 1, got {rho}")
    return widget("bivariate", {
        "width": 720, "height": 305,
        "controls": [control("rho", np.linspace(-0.95, 0.95, 39), rho),
                     control("y1", np.linspace(-2.5, 2.5, 51), y1)],
    })


def regions_explorer(fits: list[dict[str, Any]], train_x: Any, train_y: Any, test_x: Any,
                     test_y: Any, *, prior: float, lim: float = 3.5, grid: int = 120,
                     xlabel: Label | None = None, ylabel: Label | None = None) -> HTML:
    """Decision regions of a two-class generative classifier (``means``, ``covs`` of two
    Gaussians) and logistic regression (``w``, ``b``), one fit per training-set size: each
    of ``fits`` has n, train (indices into train_x), means, covs, w, b. Sliders: n, and the
    prior p(y = 1) that the generative model uses (starting at ``prior``)."""
    X = as_float_array("train_x", train_x, ndim=(2,))
    Xt = as_float_array("test_x", test_x, ndim=(2,))
    if X.shape[1] != 2 or Xt.shape[1] != 2:
        raise ValueError(f"train_x and test_x need two columns, got {X.shape} and {Xt.shape}")
    y, yt = np.asarray(train_y), np.asarray(test_y)
    if y.shape != (len(X),) or yt.shape != (len(Xt),) or not set(np.r_[y, yt]) <= {0, 1}:
        raise ValueError("train_y and test_y need one label, 0 or 1, per row of train_x, test_x")
    if not 0 < prior < 1:
        raise ValueError(f"prior must lie strictly between 0 and 1, got {prior}")
    keys = {"n", "train", "means", "covs", "w", "b"}
    if not fits or any(set(f) != keys for f in fits):
        raise ValueError(f"each fit needs exactly the keys {sorted(keys)}")
    priors = np.union1d(np.round(np.linspace(0.05, 0.95, 19), 2), [round(prior, 3)])
    return widget("regions", {
        "width": 720, "height": 352, "lim": [-lim, lim], "grid": grid,
        "labels": {"x": xlabel or "x₁", "y": ylabel or "x₂"},
        "fits": [{"n": int(f["n"]), "train": [int(i) for i in f["train"]],
                  "means": _rounded(f["means"], 10), "covs": _rounded(f["covs"], 10),
                  "w": _rounded(f["w"], 10), "b": _rounded(f["b"], 10)} for f in fits],
        "train_x": _rounded(X), "train_y": y.astype(int).tolist(),
        "test_x": _rounded(Xt), "test_y": yt.astype(int).tolist(),
        "controls": [control("n", [f["n"] for f in fits], fits[-1]["n"]),
                     control("prior", priors, prior)],
    })


def conv_explorer(image: Any, kernels: dict[str, Any], *, names_zh: dict[str, str] | None = None,
                  start: str | None = None) -> HTML:
    """A 3x3 filter on a grey image in [0, 1] (square, at most 160 pixels a side), computed in
    the page as a Conv2d layer does (cross-correlation, no padding): pick one of ``kernels``
    or edit the nine weights."""
    img = as_float_array("image", image, ndim=(2,))
    if img.shape[0] != img.shape[1] or not 8 <= img.shape[0] <= 160:
        raise ValueError(f"image must be square, 8 to 160 pixels a side, got {img.shape}")
    if img.min() < 0 or img.max() > 1:
        raise ValueError(f"image values must lie in [0, 1], got {img.min()} to {img.max()}")
    if not kernels or any(np.shape(k) != (3, 3) for k in kernels.values()):
        raise ValueError("kernels must map a name to a 3 x 3 array")
    names = list(kernels)
    if start is not None and start not in kernels:
        raise ValueError(f"start must be one of {names}, got {start!r}")
    zh = names_zh or {}
    return widget("conv", {
        "width": 720, "height": 360, "size": img.shape[0],
        "image": base64.b64encode(np.round(img * 255).astype(np.uint8).tobytes()).decode(),
        "kernels": [_rounded(kernels[n], 8) for n in names],
        "controls": [control("preset", np.arange(len(names)), names.index(start) if start else 0,
                             names=[{"en": n, "zh": zh.get(n, n)} for n in names])],
    })


# Chapter 3's figures follow. Labels go into resources/explore/labels.json under the kind;
# control(name, values, value) takes its label from there.


def _bytes64(values: np.ndarray) -> str:
    """A uint8 array as base64 text, row by row."""
    return base64.b64encode(np.ascontiguousarray(values, dtype=np.uint8).tobytes()).decode()


def threshold_explorer(image: Any, probability: Any, reference: Any, *,
                       spacing: tuple[float, float] = (1.0, 1.0), threshold: float = 0.5) -> HTML:
    """A lesion probability map thresholded by a slider (0.05 to 0.95), over its slice.

    ``image``, ``probability`` (in [0, 1]) and the bool ``reference`` are 2-D ``[x, y]``
    slices with voxel ``spacing`` in mm, shown rotated as ``plot_overlay`` shows them and
    cropped to the box that holds the nonzero image, the reference and every voxel of
    probability 0.05 or more. The probabilities are quantised to ``k / 255`` (uint8): the
    page thresholds those (``k / 255 >= t``) and computes Dice, sensitivity and precision;
    the 95th-percentile Hausdorff distance is MONAI's, computed here for every threshold,
    since a port of MONAI's surface distances to the page would not be worth its length.
    """
    from monai.metrics.hausdorff_distance import compute_hausdorff_distance

    img = as_float_array("image", image, ndim=(2,))
    prob = as_float_array("probability", probability, ndim=(2,))
    ref = np.asarray(reference)
    if not (ref.dtype == bool or np.isin(ref, (0, 1)).all()):
        raise TypeError(f"reference must be a bool (or 0/1) mask, got dtype {ref.dtype}")
    if not img.shape == prob.shape == ref.shape:
        raise ValueError(f"image, probability and reference must have one shape, got "
                         f"{img.shape}, {prob.shape} and {ref.shape}")
    if prob.min() < 0 or prob.max() > 1:
        raise ValueError(f"probability must lie in [0, 1], got {prob.min()} to {prob.max()}")
    if not ref.any():
        raise ValueError("reference is empty: no lesion to compare with")
    sp = as_float_array("spacing", spacing, ndim=(1,))
    if sp.shape != (2,) or not (sp > 0).all():
        raise ValueError(f"spacing must be two positive voxel sizes in mm, got {spacing}")
    if not 0 < number("threshold", threshold) < 1:
        raise ValueError(f"threshold must lie strictly between 0 and 1, got {threshold}")
    slider = control("threshold", np.linspace(0.05, 0.95, 19), threshold)
    rows, cols = np.nonzero(np.rot90((img != 0) | ref.astype(bool) | (prob >= 0.05)))
    box = np.s_[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    grey, k, truth = (np.rot90(a)[box] for a in (img, np.round(prob * 255), ref.astype(bool)))
    grey = np.round(255 * (grey - grey.min()) / (np.ptp(grey) or 1.0))
    hd95: list[float | None] = []
    for t in slider["values"]:
        pred = k / 255.0 >= t
        hd95.append(None if not pred.any() else float(compute_hausdorff_distance(  # None: no lesion
            _torch_mask(pred), _torch_mask(truth), include_background=True, percentile=95,
            spacing=sp[::-1].tolist()).item()))
    return widget("threshold", {
        "width": 720, "height": 440, "shape": list(grey.shape), "spacing": sp[::-1].tolist(),
        "image": _bytes64(grey), "probability": _bytes64(k),
        "reference": np.flatnonzero(truth).tolist(), "hd95": hd95, "controls": [slider],
    })


def _torch_mask(mask: np.ndarray) -> Any:
    """A 2-D bool mask as MONAI's metrics take it: a float tensor (batch 1, channel 1, H, W)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float64))[None, None]


def losses_explorer(*, n_voxels: int = 10_000, p: float = 0.1, m: int = 30, q: float = 0.5,
                    b: float = 0.01, smooth: float = 1e-5) -> HTML:
    """Cross-entropy and the lesion class's soft Dice loss of one lesion voxel, and their
    gradients with respect to its lesion logit, as functions of its lesion probability p.

    The image has ``n_voxels`` voxels and two classes; a lesion of ``m`` voxels, whose other
    m - 1 voxels have lesion probability ``q``, and background voxels of lesion probability
    ``b``. The losses are the page's: PyTorch's mean cross-entropy and MONAI's ``DiceLoss``
    without the background (``smooth_nr = smooth_dr = smooth``), in closed form in the page.
    Sliders: p, m, q and b, starting at the values given.
    """
    positive("n_voxels", n_voxels, integer=True)
    positive("m", m, integer=True)
    if not 100 <= n_voxels <= 10**7:
        raise ValueError(f"n_voxels must lie between 100 and 10**7, got {n_voxels}")
    for name, value in (("p", p), ("q", q), ("b", b)):
        if not 0 < number(name, value) < 1:
            raise ValueError(f"{name} must be a probability strictly between 0 and 1, got {value}")
    if not m <= n_voxels // 2:
        raise ValueError(f"m must lie between 1 and n_voxels // 2 = {n_voxels // 2}, got {m}")
    if not 0 <= number("smooth", smooth) < 1:
        raise ValueError(f"smooth must lie in [0, 1), got {smooth}")
    steps = np.outer(10.0 ** np.arange(8), [1, 2, 3, 5]).ravel()  # 1, 2, 3, 5, 10, 20, ...
    sizes = steps[steps <= n_voxels // 2]
    return widget("losses", {
        "width": 720, "height": 300, "n": int(n_voxels), "smooth": smooth,
        "curve": {"from": 0.001, "to": 0.999, "n": 300},
        "controls": [control("p", np.linspace(0.01, 0.99, 99), p),
                     control("m", sizes, m),
                     control("q", np.linspace(0.01, 0.99, 99), q),
                     control("b", steps[steps <= 5000] * 1e-4, b)],
    })
