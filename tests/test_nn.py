import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from pr_utils import nn as prnn


def blobs(n: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 2, generator=g) + 3 * y[:, None].float()
    return x, y


def test_count_parameters() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert prnn.count_parameters(model) == 3 * 4 + 4 + 4 * 2 + 2
    model[0].weight.requires_grad_(False)
    assert prnn.count_parameters(model) == 4 + 4 * 2 + 2
    assert prnn.count_parameters(model, trainable_only=False) == 26
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        prnn.count_parameters("model")  # type: ignore[arg-type]


def test_train_classifier_learns_separable_blobs() -> None:
    x, y = blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    history = prnn.train_classifier(model, x, y, epochs=15, lr=0.05, x_val=x, y_val=y,
                                    progress=False)
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.95
    assert prnn.accuracy(model, x, y) == history["val_accuracy"][-1]


def test_train_classifier_is_reproducible() -> None:
    x, y = blobs()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = nn.Linear(2, 2)
        runs.append(prnn.train_classifier(model, x, y, epochs=3, lr=0.1, optimizer="sgd",
                                          progress=False)["loss"])
    assert runs[0] == runs[1]


def test_train_classifier_rejects_bad_input() -> None:
    x, y = blobs()
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="class indices"):
        prnn.train_classifier(model, x, y.float(), epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="lengths must match"):
        prnn.train_classifier(model, x, y[:-1], epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="optimizer must be"):
        prnn.train_classifier(model, x, y, epochs=1, lr=0.1, optimizer="rmsprop")
    with pytest.raises(ValueError, match="both x_val and y_val"):
        prnn.train_classifier(model, x, y, epochs=1, lr=0.1, x_val=x)
    with pytest.raises(ValueError, match="epochs must be positive"):
        prnn.train_classifier(model, x, y, epochs=0, lr=0.1)


def test_confusion_matrix() -> None:
    c = prnn.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], 3)
    assert c.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    with pytest.raises(ValueError, match="labels must lie"):
        prnn.confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="lengths must match"):
        prnn.confusion_matrix([0, 1], [0], 3)


def test_plot_decision_regions_and_filters() -> None:
    _, ax = plt.subplots()
    x, y = blobs(50)
    prnn.plot_decision_regions(ax, lambda p: (p.sum(1) > 3).astype(int), x.numpy(), y.numpy())
    assert len(ax.collections) >= 2
    with pytest.raises(ValueError, match="2 columns"):
        prnn.plot_decision_regions(ax, lambda p: p[:, 0], np.zeros((5, 3)), np.zeros(5))
    fig2 = Figure()
    prnn.plot_filters(fig2, torch.randn(10, 1, 3, 3))
    assert sum(len(a.images) for a in fig2.axes) == 10
    with pytest.raises(ValueError, match="4 dimensions"):
        prnn.plot_filters(fig2, torch.randn(3, 3))
    plt.close("all")
