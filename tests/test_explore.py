"""pr_utils.explore: the HTML of the interactive figures, and clear errors for bad input.

What the figures compute in the page is tested in Chromium (tests/test_interactive.py).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from pr_utils import explore


def test_a_figure_is_self_contained_and_the_same_on_every_run() -> None:
    figure = explore.conditioning_explorer(rho=0.5, y1=-1.0)
    html = figure.data
    assert html == explore.conditioning_explorer(rho=0.5, y1=-1.0).data  # nbval compares it
    assert "PRExplore.register('bivariate'" in html and "@media print" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from another host
    data = explore.figure_data(figure)
    rho = next(c for c in data["controls"] if c["name"] == "rho")
    assert rho["values"][rho["index"]] == pytest.approx(0.5)
    assert rho["label"] == {"en": "correlation ρ", "zh": "相关系数 ρ"}  # from labels.json
    assert set(data["title"]) == {"en", "zh"}


def test_every_figure_has_its_script_and_both_languages() -> None:
    labels = json.loads((explore.SCRIPTS / "labels.json").read_text(encoding="utf-8"))
    for kind, entry in labels.items():
        assert (explore.SCRIPTS / f"{kind}.js").is_file(), kind
        texts = [entry["title"], entry["hint"], *entry.get("controls", {}).values(),
                 *entry.get("readouts", {}).values()]
        assert all(set(t) == {"en", "zh"} and t["zh"] for t in texts), kind


def test_data_that_could_close_the_script_tag_is_escaped() -> None:
    figure = explore.gp_explorer([0.0, 1.0], [0.0, 1.0], [1, 0], [0.0, 1.0], xlabel="</script>")
    html = figure.data
    assert "</script>x" not in html and explore.figure_data(figure)["xlabel"] == "</script>"


def test_bad_input_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no interactive figure"):
        explore.widget("nonexistent", {})
    with pytest.raises(ValueError, match="at least two values"):
        explore.control("x", [1.0], 1.0)
    with pytest.raises(ValueError, match="same length"):
        explore.gp_explorer([0.0, 1.0], [0.0], [0, 1], [0.0, 1.0])
    with pytest.raises(ValueError, match="permutation"):
        explore.gp_explorer([0.0, 1.0], [0.0, 1.0], [0, 0], [0.0, 1.0])
    with pytest.raises(ValueError, match="rho"):
        explore.conditioning_explorer(rho=1.0)
    with pytest.raises(ValueError, match="square"):
        explore.conv_explorer(np.zeros((8, 9)), {"id": np.eye(3)})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        explore.conv_explorer(np.full((8, 8), 2.0), {"id": np.eye(3)})
    with pytest.raises(ValueError, match="3 x 3"):
        explore.conv_explorer(np.zeros((8, 8)), {"id": np.eye(2)})
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    fit = {"n": 4, "train": [0, 1, 2, 3], "means": np.zeros((2, 2)), "covs": [np.eye(2)] * 2,
           "w": np.zeros(2), "b": 0.0}
    with pytest.raises(ValueError, match="two columns"):
        explore.regions_explorer([fit], np.zeros((4, 3)), y, X, y, prior=0.5)
    with pytest.raises(ValueError, match="0 or 1"):
        explore.regions_explorer([fit], X, y + 1, X, y, prior=0.5)
    with pytest.raises(ValueError, match="prior"):
        explore.regions_explorer([fit], X, y, X, y, prior=1.5)
    with pytest.raises(ValueError, match="keys"):
        explore.regions_explorer([{"n": 4}], X, y, X, y, prior=0.5)
    with pytest.raises(TypeError):
        explore.gp_explorer("abc", [0.0], [0], [0.0])


def test_threshold_figure_embeds_the_quantised_map_and_monai_hd95() -> None:
    import base64

    import torch
    from monai.metrics import compute_hausdorff_distance

    image = np.zeros((30, 24))
    image[3:27, 2:20] = 1.0
    prob = np.zeros((30, 24))
    prob[5:15, 4:14] = np.linspace(0.0, 0.9, 10)[:, None]  # nothing at 0.95
    truth = np.zeros((30, 24), dtype=bool)
    truth[10:14, 6:9] = True
    data = explore.figure_data(explore.threshold_explorer(image, prob, truth, spacing=(1.0, 2.0)))
    rows, cols = data["shape"]
    assert (rows, cols) == (18, 24) and data["spacing"] == [2.0, 1.0]  # rotated, then cropped
    k = np.frombuffer(base64.b64decode(data["probability"]), dtype=np.uint8).reshape(rows, cols)
    assert sorted(np.unique(k)) == sorted(np.unique(np.round(prob * 255)))
    assert len(data["reference"]) == truth.sum()
    ref = np.zeros(rows * cols, dtype=bool)
    ref[data["reference"]] = True
    thresholds = data["controls"][0]["values"]
    assert data["hd95"][-1] is None and len(data["hd95"]) == len(thresholds) == 19

    def as_tensor(mask: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(mask.reshape(rows, cols).astype(np.float64))[None, None]

    t = thresholds[5]
    expected = compute_hausdorff_distance(as_tensor(k / 255 >= t), as_tensor(ref), percentile=95,
                                          include_background=True, spacing=data["spacing"]).item()
    assert data["hd95"][5] == expected


def test_bad_input_to_the_chapter_3_figures_is_refused() -> None:
    image, prob, truth = np.ones((8, 8)), np.full((8, 8), 0.5), np.eye(8, dtype=bool)
    with pytest.raises(ValueError, match="one shape"):
        explore.threshold_explorer(image, prob[:7], truth)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        explore.threshold_explorer(image, prob + 1, truth)
    with pytest.raises(TypeError, match="bool"):
        explore.threshold_explorer(image, prob, truth * 2)
    with pytest.raises(ValueError, match="empty"):
        explore.threshold_explorer(image, prob, truth & False)
    with pytest.raises(ValueError, match="spacing"):
        explore.threshold_explorer(image, prob, truth, spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match="threshold"):
        explore.threshold_explorer(image, prob, truth, threshold=1.0)
    with pytest.raises(TypeError, match="n_voxels"):
        explore.losses_explorer(n_voxels=1e4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_voxels"):
        explore.losses_explorer(n_voxels=10)
    with pytest.raises(ValueError, match="m must"):
        explore.losses_explorer(n_voxels=100, m=51)
    with pytest.raises(ValueError, match="q must"):
        explore.losses_explorer(q=1.0)
    with pytest.raises(TypeError, match="b must"):
        explore.losses_explorer(b="0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="smooth"):
        explore.losses_explorer(smooth=1.0)


def test_committed_figures_embed_the_current_scripts() -> None:
    """A change to resources/explore reaches the site only through re-executed notebooks."""
    from common import ROOT

    core = (explore.SCRIPTS / "core.js").read_text(encoding="utf-8")
    found = 0
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            for output in cell.get("outputs", []):
                html = "".join(output.get("data", {}).get("text/html", []))
                if 'class="pr-explore"' in html:
                    kind = re.search(r'data-kind="(\w+)"', html)[1]
                    script = (explore.SCRIPTS / f"{kind}.js").read_text(encoding="utf-8")
                    assert core in html and script in html, (
                        f"{path.name}: its {kind} figure was made with older scripts; "
                        f"run `make execute NB={path.relative_to(ROOT)}`")
                    found += 1
    assert found >= 4


def test_slider_values_reads_back_what_the_reader_can_set() -> None:
    values = explore.slider_values(explore.conditioning_explorer())
    np.testing.assert_allclose(values["rho"], np.linspace(-0.95, 0.95, 39))
    with pytest.raises(TypeError, match="interactive figure"):
        explore.slider_values("<div></div>")  # type: ignore[arg-type]
