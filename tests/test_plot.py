import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from monai.networks.nets import UNet

from pr_utils.plot import BOOK_RC, PALETTE, check_labels, draw_unet, use_book_style


@pytest.fixture(autouse=True)
def _restore_rc():  # type: ignore[no-untyped-def]
    with matplotlib.rc_context():
        yield
    plt.close("all")


def test_use_book_style_sets_the_book_rc() -> None:
    use_book_style()
    for key, value in BOOK_RC.items():
        if key != "axes.prop_cycle":
            assert matplotlib.rcParams[key] == value, key
    colours = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
    assert colours == list(PALETTE)


def test_check_labels_accepts_labelled_axes() -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    check_labels(fig)


def test_check_labels_names_the_unlabelled_axes() -> None:
    fig, (left, right) = plt.subplots(1, 2)
    left.set_xlabel("x")
    left.set_ylabel("y")
    right.set_title("residuals")
    right.set_xlabel("x")
    with pytest.raises(ValueError, match=r"axes 1 \(residuals\)"):
        check_labels(fig)


def test_check_labels_exempts_images_and_colour_bars_and_hidden_axes() -> None:
    fig, (img_ax, off_ax) = plt.subplots(1, 2)
    im = img_ax.imshow(np.zeros((4, 4)))
    fig.colorbar(im, ax=img_ax)
    off_ax.axis("off")
    check_labels(fig)
    with pytest.raises(ValueError, match="axes 0"):
        check_labels(fig, allow_images=False)


def test_check_labels_rejects_non_figures() -> None:
    _, ax = plt.subplots()
    with pytest.raises(TypeError, match="matplotlib Figure"):
        check_labels(ax)  # type: ignore[arg-type]


def small_unet() -> UNet:
    return UNet(spatial_dims=2, in_channels=2, out_channels=4, channels=(4, 8, 16),
                strides=(2, 2), num_res_units=1)


def test_draw_unet_reads_channels_and_sizes_from_the_model() -> None:
    net = small_unet()
    fig, ax = plt.subplots()
    assert draw_unet(net, (16, 24), ax=ax) is fig
    texts = [t.get_text() for t in ax.texts]
    # an up stage takes its level's skip concatenated with what comes from below:
    # 8 + 16 (the bottom) at level 2, 4 + 4 (up 2) at level 1
    assert texts[:4] == ["down 1: 4 ch\n8×12", "up 1: 8 → 4 ch\n16×24",
                         "down 2: 8 ch\n4×6", "up 2: 24 → 4 ch\n8×12"]
    assert "bottom: 8 → 16 ch\n4×6" in texts  # stride 1: the resolution of the level above
    assert "input: 2 slices\n16×24" in texts and "output: 4 classes\n16×24" in texts
    assert not ax.axison and len(ax.patches) > len(texts)
    assert not any(m._forward_hooks for m in net.modules())  # the hooks are removed


@pytest.mark.parametrize(("net", "size", "error", "match"), [
    (torch.nn.Linear(2, 2), (16, 16), TypeError, "MONAI UNet"),
    (None, (16.0, 16), TypeError, "pair of ints"),
    (None, [16, 16], TypeError, "pair of ints"),
    (None, (0, 16), ValueError, "positive"),
    (None, (16, 18), ValueError, "divisible by 4"),
])
def test_draw_unet_rejects_bad_input(net: object, size: object, error: type[Exception],
                                     match: str) -> None:
    with pytest.raises(error, match=match):
        draw_unet(small_unet() if net is None else net, size)  # type: ignore[arg-type]
