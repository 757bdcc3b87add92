import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from common import learning_rates
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
    # the recorded accuracy, recomputed by scikit-learn from the model's raw outputs
    from sklearn.metrics import accuracy_score

    with torch.no_grad():
        predicted = model(x).argmax(dim=1)
    assert history["val_accuracy"][-1] == pytest.approx(accuracy_score(y, predicted), abs=1e-6)


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


def test_train_classifier_augments_and_schedules() -> None:
    x, y = blobs()
    seen: list[torch.Tensor] = []

    def flip(xb: torch.Tensor) -> torch.Tensor:
        seen.append(xb)
        return -xb

    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    prnn.train_classifier(model, x, y, epochs=15, lr=0.1, batch_size=50, augment=flip,
                          lr_schedule="cosine", progress=False)
    assert len(seen) == 15 * 4 and sum(len(b) for b in seen) == 15 * len(x)
    # Trained on -x only, the model has learnt the mirrored rule.
    assert prnn.accuracy(model, -x, y) > 0.9 > prnn.accuracy(model, x, y)
    with pytest.raises(ValueError, match="augment must return a tensor of the minibatch's shape"):
        prnn.train_classifier(model, x, y, epochs=1, lr=0.1, augment=lambda xb: xb[:, :1],
                              progress=False)
    with pytest.raises(ValueError, match="lr_schedule must be"):
        prnn.train_classifier(model, x, y, epochs=1, lr=0.1, lr_schedule="step")


def test_train_classifier_cosine_schedule_ends_at_zero() -> None:
    x, y = blobs()
    model = nn.Linear(2, 2)
    with learning_rates(torch.optim.SGD) as lrs:
        prnn.train_classifier(model, x, y, epochs=3, lr=0.2, batch_size=64, optimizer="sgd",
                              lr_schedule="cosine", progress=False)
    steps = 3 * 4
    assert len(lrs) == steps
    expected = [0.1 * (1 + np.cos(np.pi * k / steps)) for k in range(steps)]
    assert np.allclose(lrs, expected)


def test_train_classifier_rejects_non_finite_input() -> None:
    x, y = blobs()
    model = nn.Linear(2, 2)
    before = [p.detach().clone() for p in model.parameters()]
    x_nan = x.clone()
    x_nan[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"x must be finite \(no NaN or inf\), got 1 non-finite"):
        prnn.train_classifier(model, x_nan, y, epochs=1, lr=0.1, progress=False)
    x_inf = x.clone()
    x_inf[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"x_val must be finite"):
        prnn.train_classifier(model, x, y, epochs=1, lr=0.1, x_val=x_inf, y_val=y,
                              progress=False)
    # Rejected before any step: the model is untouched.
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_train_classifier_stops_when_training_diverges() -> None:
    x, y = blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    with pytest.raises(FloatingPointError,
                       match=r"loss became (nan|inf) in epoch \d+, minibatch \d+") as info:
        prnn.train_classifier(model, x, y, epochs=20, lr=1e6, optimizer="sgd",
                              progress=False)
    assert "smaller learning rate" in str(info.value)


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


def test_evaluation_rejects_non_finite_inputs() -> None:
    # NaN inputs gave an accuracy of 0.65 and predicted labels (all zeros) before.
    x, y = blobs()
    model = nn.Linear(2, 2)
    x_nan = x.clone()
    x_nan[7, 0] = float("nan")
    with pytest.raises(ValueError, match=r"x must be finite \(no NaN or inf\), got 1 non-finite"):
        prnn.accuracy(model, x_nan, y)
    with pytest.raises(ValueError, match=r"x must be finite"):
        prnn.predict_labels(model, x_nan)
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor"):
        prnn.accuracy(model, x.numpy(), y)  # type: ignore[arg-type]


@pytest.mark.parametrize("lr, message", [
    (float("inf"), "lr must be a finite positive number, got inf"),
    (float("nan"), "lr must be positive, got nan"),
    (np.float64(np.inf), "lr must be a finite positive number"),
    (1e300, r"lr=1e\+300 does not fit the model's torch.float32 parameters"),
])
def test_train_classifier_rejects_an_unusable_learning_rate(lr: float, message: str) -> None:
    x, y = blobs()
    model = nn.Linear(2, 2)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=message):
        prnn.train_classifier(model, x, y, epochs=1, lr=lr, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_train_classifier_blames_nan_weights_not_the_learning_rate() -> None:
    x, y = blobs()
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        model[2].bias[1] = float("nan")
    with pytest.raises(ValueError, match=r"model parameter '2.bias' holds NaN or inf before "
                                         "training"):
        prnn.train_classifier(model, x, y, epochs=1, lr=0.1, progress=False)
    with pytest.raises(ValueError, match=r"model \(Identity\) has no parameters to train"):
        prnn.train_classifier(nn.Identity(), x, y, epochs=1, lr=0.1, progress=False)
    with pytest.raises(TypeError, match="augment must be a function or None"):
        prnn.train_classifier(nn.Linear(2, 2), x, y, epochs=1, lr=0.1, augment="flip",  # type: ignore[arg-type]
                              progress=False)


def test_train_classifier_accepts_numpy_scalars_and_trains_the_same() -> None:
    x, y = blobs()
    runs = []
    for epochs, lr, batch_size in ((2, 0.1, 32), (np.int64(2), np.float64(0.1), np.int32(32))):
        torch.manual_seed(0)
        runs.append(prnn.train_classifier(nn.Linear(2, 2), x, y, epochs=epochs, lr=lr,
                                          batch_size=batch_size, progress=False)["loss"])
    assert len(runs[0]) == 2 and runs[0] == runs[1]


def test_plot_decision_regions_rejects_what_it_used_to_coerce() -> None:
    _, ax = plt.subplots()
    x = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    with pytest.raises(ValueError, match=r"y must hold whole-number class labels, got 0\.7"):
        prnn.plot_decision_regions(ax, lambda p: np.zeros(len(p)), x, [0, 1, 0.7])
    with pytest.raises(ValueError, match="padding must be >= 0, got -10"):
        prnn.plot_decision_regions(ax, lambda p: np.zeros(len(p)), x, [0, 1, 1], padding=-10)
    with pytest.raises(ValueError, match="padding must be finite"):
        prnn.plot_decision_regions(ax, lambda p: np.zeros(len(p)), x, [0, 1, 1],
                                   padding=float("inf"))
    with pytest.raises(ValueError, match="labels must name each of the 2 classes"):
        prnn.plot_decision_regions(ax, lambda p: np.zeros(len(p)), x, [0, 1, 1], labels=("a",))
    with pytest.raises(ValueError, match="predict must return one class per grid point"):
        prnn.plot_decision_regions(ax, lambda p: np.zeros(3), x, [0, 1, 1], resolution=5)
    assert not ax.collections, "nothing is drawn before the checks pass"
    # whole-number labels of any sign or dtype, and NumPy scalars, are accepted
    prnn.plot_decision_regions(ax, lambda p: np.sign(p[:, 0] - 1), x, np.array([-1.0, 1.0, 1.0]),
                               padding=np.float32(0.5), resolution=np.int64(20))
    assert len(ax.collections) == 3  # the regions and one scatter per class
    plt.close("all")
