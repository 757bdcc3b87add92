import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from pr_utils import seg


def volume() -> tuple[np.ndarray, np.ndarray]:
    image = np.random.default_rng(0).random((12, 10, 6)).astype(np.float32)
    labels = (image > 0.5).astype(np.uint8)
    return image, labels


def test_slice_items_are_monai_style_dicts() -> None:
    image, labels = volume()
    items = seg.slice_items(image, labels, [1, 4])
    assert len(items) == 2
    assert items[0]["image"].shape == (1, 12, 10) and items[0]["image"].dtype == np.float32
    assert items[1]["label"].dtype == np.int64
    assert np.array_equal(items[1]["label"][0], labels[:, :, 4])


def test_slice_items_rejects_bad_input() -> None:
    image, labels = volume()
    with pytest.raises(ValueError, match="same shape"):
        seg.slice_items(image, labels[:, :, :3], [0])
    with pytest.raises(ValueError, match="outside"):
        seg.slice_items(image, labels, [6])
    with pytest.raises(ValueError, match="must be 3-D"):
        seg.slice_items(image[:, :, 0], labels, [0])
    with pytest.raises(ValueError, match="must not be empty"):
        seg.slice_items(image, labels, [])


class Threshold(nn.Module):
    """A 'network' with one learnable parameter that segments bright pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([-self.scale * (x - 0.5), self.scale * (x - 0.5)], dim=1)


def test_train_and_predict_segmentation() -> None:
    image, labels = volume()
    items = seg.slice_items(image, labels, range(6))
    batches = [{"image": torch.tensor(np.stack([it["image"] for it in items])),
                "label": torch.tensor(np.stack([it["label"] for it in items]))}]
    model = Threshold()

    def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits, y[:, 0])

    history = seg.train_segmentation(model, batches, loss_fn, epochs=20, lr=0.5, progress=False)
    assert history["loss"][-1] < history["loss"][0] and len(history["seconds"]) == 20
    pred = seg.predict_slices(model, batches[0]["image"].numpy())
    assert pred.shape == (6, 12, 10)
    assert np.array_equal(pred, np.moveaxis(labels, -1, 0))
    with pytest.raises(ValueError, match=r"\(N, 1, X, Y\)"):
        seg.predict_slices(model, np.zeros((2, 12, 10)))


def test_add_lesions_inside_region_only() -> None:
    image = np.ones((40, 40), dtype=np.float32)
    region = np.zeros((40, 40), dtype=bool)
    region[10:30, 10:30] = True
    new, lesions = seg.add_lesions(image, region, n=3, radius=(2.0, 2.5), intensity=0.2, seed=1)
    assert lesions.any() and not (lesions & ~region).any()
    assert np.all(new[lesions] < 0.5) and new[0, 0] == 1.0
    again, same = seg.add_lesions(image, region, n=3, radius=(2.0, 2.5), intensity=0.2, seed=1)
    assert np.array_equal(new, again) and np.array_equal(lesions, same)


def test_add_lesions_rejects_bad_input() -> None:
    image = np.ones((10, 10))
    with pytest.raises(ValueError, match="share a 2-D or 3-D shape"):
        seg.add_lesions(image, np.ones((5, 5), bool), n=1)
    with pytest.raises(ValueError, match="region is empty"):
        seg.add_lesions(image, np.zeros((10, 10), bool), n=1)
    with pytest.raises(ValueError, match="radius"):
        seg.add_lesions(image, np.ones((10, 10), bool), n=1, radius=(3.0, 1.0))


def test_plot_overlay() -> None:
    _, ax = plt.subplots()
    seg.plot_overlay(ax, np.zeros((5, 6)), np.eye(5, 6, dtype=int) * 2, title="t")
    assert len(ax.images) == 2 and ax.get_title() == "t"
    with pytest.raises(ValueError, match="image's shape"):
        seg.plot_overlay(ax, np.zeros((5, 6)), np.zeros((6, 5)))
    plt.close("all")
