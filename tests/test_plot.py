import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from pr_utils.plot import BOOK_RC, PALETTE, check_labels, use_book_style


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
