import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from common import learning_rates
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


def test_slice_items_with_context_stacks_the_neighbours() -> None:
    image, labels = volume()
    items = seg.slice_items(image, labels, [0, 3], context=1)
    assert items[1]["image"].shape == (3, 12, 10)
    assert np.array_equal(items[1]["image"][0], image[:, :, 2])
    assert np.array_equal(items[1]["image"][2], image[:, :, 4])
    assert np.array_equal(items[0]["image"][0], image[:, :, 0])  # the edge slice repeats
    assert np.array_equal(items[0]["label"][0], labels[:, :, 0])
    with pytest.raises(ValueError, match="context"):
        seg.slice_items(image, labels, [0], context=-1)


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


def test_slice_items_rejects_what_it_used_to_coerce() -> None:
    image, labels = volume()
    fractional = labels.astype(np.float32)
    fractional[3, 2, 1] = 1.7  # was silently truncated to 1
    with pytest.raises(ValueError, match=r"labels must hold whole-number class labels, got 1\.7"):
        seg.slice_items(image, fractional, [1])
    negative = labels.astype(np.int64)
    negative[0, 0, 5] = -1  # was kept, and broke the loss later
    with pytest.raises(ValueError, match="labels must hold non-negative class labels, got -1"):
        seg.slice_items(image, negative, [1])
    with pytest.raises(TypeError, match=r"indices must hold ints \(slice numbers\), got 2.7"):
        seg.slice_items(image, labels, [1, 2.7])  # was silently slice 2
    with pytest.raises(TypeError, match="indices must hold ints"):
        seg.slice_items(image, labels, np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="context must be a non-negative int"):
        seg.slice_items(image, labels, [1], context=1.0)  # type: ignore[arg-type]


def test_slice_items_accepts_numpy_integers_and_whole_float_labels() -> None:
    image, labels = volume()
    expected = seg.slice_items(image, labels, [1, 4], context=1)
    for got in (seg.slice_items(image, labels, np.array([1, 4]), context=np.int64(1)),
                seg.slice_items(image, labels.astype(np.float64), [np.int32(1), 4], context=1)):
        for a, b in zip(expected, got, strict=True):
            assert all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)


class Threshold(nn.Module):
    """A 'network' scoring each pixel ``scale * x + offset`` for class 1 (minus that for
    class 0). It starts by calling every pixel background and must learn from the
    labels that bright pixels (above 0.5) are class 1."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.0))
        self.offset = nn.Parameter(torch.tensor(-1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = self.scale * x + self.offset
        return torch.cat([-score, score], dim=1)


def test_train_and_predict_segmentation() -> None:
    image, labels = volume()
    items = seg.slice_items(image, labels, range(6))
    batches = [{"image": torch.tensor(np.stack([it["image"] for it in items])),
                "label": torch.tensor(np.stack([it["label"] for it in items]))}]
    model = Threshold()
    truth = np.moveaxis(labels, -1, 0)
    assert not seg.predict_slices(model, batches[0]["image"].numpy()).any()  # untrained: all 0

    def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits, y[:, 0])

    history = seg.train_segmentation(model, batches, loss_fn, epochs=20, lr=0.5, progress=False)
    assert history["loss"][-1] < history["loss"][0] and len(history["seconds"]) == 20
    pred = seg.predict_slices(model, batches[0]["image"].numpy())
    assert pred.shape == (6, 12, 10)
    # Pixel accuracy measured 0.899-0.931 (untrained 0.47-0.52, the background share)
    # over volume seeds 0-4 with 1 and 4 threads; the learned threshold -offset/scale
    # was 0.400-0.426 (the labels' is 0.5), the loss fell from 1.10-1.19 to 0.21-0.23.
    assert (pred == truth).mean() > 0.85
    assert 0.3 < float(-model.offset.detach() / model.scale.detach()) < 0.6
    with pytest.raises(ValueError, match=r"\(N, C, X, Y\)"):
        seg.predict_slices(model, np.zeros((2, 12, 10)))
    with pytest.raises(ValueError, match="flip_axis"):
        seg.predict_slices(model, batches[0]["image"].numpy(), flip_axis=3)


def test_flip_averaged_prediction_is_mirror_symmetric() -> None:
    # A net that favours class 1 on the left half: alone it is not symmetric under a
    # left-right flip; averaged with its mirrored prediction, ties aside, it must be.
    class LeftBias(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.linspace(1.0, -1.0, 10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            score = x + self.w[None, None, None, :] - 0.5
            return torch.cat([-score, score], dim=1)

    images = np.random.default_rng(1).random((3, 1, 6, 10)).astype(np.float32)
    plain = seg.predict_slices(LeftBias(), images)
    tta = seg.predict_slices(LeftBias(), images, flip_axis=2)
    mirrored_tta = seg.predict_slices(LeftBias(), images[:, :, :, ::-1].copy(), flip_axis=2)
    assert not np.array_equal(plain, tta)
    assert np.array_equal(tta, mirrored_tta[:, :, ::-1])


def _loop_predict_slices(model: nn.Module, images: np.ndarray, batch_size: int,
                         flip_axis: int | None) -> np.ndarray:
    """The hand-written loop predict_slices was before MONAI's SliceInferer."""
    x, out = torch.as_tensor(images), []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            p = torch.softmax(model(x[i:i + batch_size]), dim=1)
            if flip_axis is not None:
                dim = flip_axis + 1
                p = (p + torch.softmax(model(x[i:i + batch_size].flip(dim)), dim=1).flip(dim)) / 2
            out.append(p.argmax(dim=1))
    return torch.cat(out).numpy()


@pytest.mark.parametrize("flip_axis", [None, 1, 2])
@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_predict_slices_equals_the_per_batch_loop(batch_size: int, flip_axis: int | None) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
    model.eval()
    images = np.random.default_rng(0).normal(size=(7, 2, 12, 10)).astype(np.float32)
    pred = seg.predict_slices(model, images, batch_size=batch_size, flip_axis=flip_axis)
    assert pred.shape == (7, 12, 10) and pred.dtype == np.int64
    assert len(np.unique(pred)) == 3  # every class occurs: a real comparison
    assert np.array_equal(pred, _loop_predict_slices(model, images, batch_size, flip_axis))


def test_cosine_schedule_ends_at_zero_learning_rate() -> None:
    image, labels = volume()
    items = seg.slice_items(image, labels, range(6))
    batches = [{"image": torch.tensor(np.stack([it["image"] for it in items[i:i + 2]])),
                "label": torch.tensor(np.stack([it["label"] for it in items[i:i + 2]]))}
               for i in range(0, 6, 2)]
    model = Threshold()

    def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits, y[:, 0])

    def rates(schedule: str) -> list[float]:
        """The learning rate of each of the 6 Adam steps (2 epochs of 3 batches)."""
        with learning_rates(torch.optim.Adam) as seen:
            seg.train_segmentation(model, batches, loss_fn, epochs=2, lr=0.5, schedule=schedule,
                                   progress=False)
        return seen

    # step k of 6 at 0.5 (1 + cos(pi k / 6)) / 2: from 0.5 down to 0.034, heading for 0
    cosine = [0.25 * (1 + np.cos(np.pi * k / 6)) for k in range(6)]
    assert np.allclose(rates("cosine"), cosine)
    assert rates("constant") == [0.5] * 6  # the same spy sees a constant rate
    with pytest.raises(ValueError, match="schedule must be"):
        seg.train_segmentation(model, batches, loss_fn, epochs=1, schedule="step")
    with pytest.raises(TypeError, match="length"):
        seg.train_segmentation(model, iter(batches), loss_fn, epochs=1, schedule="cosine")


def test_train_segmentation_stops_on_nan_images_and_diverging_loss() -> None:
    image, labels = volume()
    items = seg.slice_items(image, labels, range(6))
    x = torch.tensor(np.stack([it["image"] for it in items]))
    y = torch.tensor(np.stack([it["label"] for it in items]))
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")

    def ce(logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits, t[:, 0])

    with pytest.raises(ValueError, match="epoch 1, batch 1: the images contain NaN"):
        seg.train_segmentation(Threshold(), [{"image": bad, "label": y}], ce, epochs=1,
                               progress=False)

    def exploding(logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return ce(logits, t) * torch.tensor(float("inf"))

    with pytest.raises(FloatingPointError, match="epoch 1, batch 1: the loss is inf"):
        seg.train_segmentation(Threshold(), [{"image": x, "label": y}], exploding, epochs=1,
                               progress=False)
    with pytest.raises(ValueError, match="NaN or inf"):
        seg.predict_slices(Threshold(), bad.numpy())


def test_train_segmentation_checks_the_first_epoch_before_any_step() -> None:
    # NaN in the second batch: before, the first batch had already changed the weights.
    image, labels = volume()
    items = seg.slice_items(image, labels, range(6))
    x = torch.tensor(np.stack([it["image"] for it in items]))
    y = torch.tensor(np.stack([it["label"] for it in items]))
    bad = x[3:].clone()
    bad[1, 0, 2, 2] = float("inf")
    model = Threshold()
    before = [p.detach().clone() for p in model.parameters()]

    def ce(logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits, t[:, 0])

    loader = [{"image": x[:3], "label": y[:3]}, {"image": bad, "label": y[3:]}]
    with pytest.raises(ValueError, match="epoch 1, batch 2: the images contain NaN or inf"):
        seg.train_segmentation(model, loader, ce, epochs=1, lr=0.5, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    with pytest.raises(TypeError, match="epoch 1, batch 1: the loader must yield dicts"):
        seg.train_segmentation(model, [(x, y)], ce, epochs=1, progress=False)


@pytest.mark.parametrize("model, lr, error, message", [
    (nn.Identity(), 1e-3, ValueError, r"model \(Identity\) has no parameters to train"),
    ("net", 1e-3, TypeError, r"model must be a torch\.nn\.Module"),
    (None, float("inf"), ValueError, "lr must be a finite positive number, got inf"),
    (None, 1e300, ValueError, r"lr=1e\+300 does not fit the model's torch\.float32"),
    ("nan", 1e-3, ValueError, "model parameter 'offset' holds NaN or inf before training"),
])
def test_train_segmentation_rejects_unusable_models_and_rates(
        model: object, lr: float, error: type[Exception], message: str) -> None:
    image, labels = volume()
    items = seg.slice_items(image, labels, range(2))
    batches = [{"image": torch.tensor(np.stack([it["image"] for it in items])),
                "label": torch.tensor(np.stack([it["label"] for it in items]))}]
    if model is None or model == "nan":
        model_ = Threshold()
        if model == "nan":
            with torch.no_grad():
                model_.offset.fill_(float("nan"))
        model = model_
    with pytest.raises(error, match=message):
        seg.train_segmentation(model, batches, lambda a, b: a.sum(), epochs=1,  # type: ignore[arg-type]
                               lr=lr, progress=False)


def test_segmentation_names_an_unknown_or_missing_device(monkeypatch: pytest.MonkeyPatch) -> None:
    images = np.zeros((2, 1, 4, 4), dtype=np.float32)
    batches = [{"image": torch.tensor(images), "label": torch.zeros(2, 1, 4, 4, dtype=torch.long)}]
    with pytest.raises(ValueError, match="device must name a torch device such as 'cpu' or "
                                         "'cuda', got 'gpu'"):
        seg.predict_slices(Threshold(), images, device="gpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="device must name a torch device"):
        seg.train_segmentation(Threshold(), batches, lambda a, b: a.sum(), epochs=1,
                               device="gpu", progress=False)  # type: ignore[arg-type]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device is 'cuda', but no CUDA device is available"):
        seg.predict_slices(Threshold(), images, device="cuda")  # type: ignore[arg-type]
    # a model without parameters predicts on the CPU (it used to raise StopIteration)
    assert seg.predict_slices(nn.Identity(), np.zeros((2, 2, 4, 4))).shape == (2, 4, 4)


@pytest.mark.parametrize("seed", range(20))
def test_every_darkened_voxel_is_labelled_lesion_inside_a_thin_region(seed: int) -> None:
    # A 4-voxel-wide band, as thin as eroded white matter gets: lesions reach its edges.
    image = np.ones((40, 40), dtype=np.float32)
    region = np.zeros((40, 40), dtype=bool)
    region[18:22, 5:35] = True
    new, lesions = seg.add_lesions(image, region, n=3, radius=(1.5, 3.0), intensity=0.2,
                                   seed=seed)
    darkened = new < image
    assert darkened.any()
    assert np.array_equal(darkened, lesions)  # nothing dark is labelled background
    assert not (darkened & ~region).any() and np.all(new[~region] == 1.0)


def test_add_lesions_marks_the_lesion_centres() -> None:
    image = np.ones((40, 40), dtype=np.float32)
    region = np.zeros((40, 40), dtype=bool)
    region[10:30, 10:30] = True
    new, lesions = seg.add_lesions(image, region, n=3, radius=(2.0, 2.5), intensity=0.2, seed=1)
    centres = np.argwhere(np.isclose(new, 0.2, atol=1e-6))  # fully inside a ball
    assert len(centres) >= 3 * 9 and lesions[tuple(centres.T)].all()
    assert new.dtype == np.float32
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
    region = np.ones((10, 10), bool)
    with pytest.raises(TypeError, match=r"radius must be a pair \(low, high\)"):
        seg.add_lesions(image, region, n=1, radius=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="intensity must be finite, got nan"):
        seg.add_lesions(image, region, n=1, intensity=float("nan"))
    with pytest.raises(TypeError, match="intensity must be a number"):
        seg.add_lesions(image, region, n=1, intensity="dark")  # type: ignore[arg-type]
    small = np.zeros((10, 10), bool)
    small[4, 4:7] = True
    with pytest.raises(ValueError, match="n=5 lesions need as many distinct centres, but region "
                                         "holds only 3 voxels"):
        seg.add_lesions(image, small, n=5)


def test_add_lesions_accepts_numpy_scalars() -> None:
    image = np.ones((20, 20), dtype=np.float32)
    region = np.ones((20, 20), dtype=bool)
    plain = seg.add_lesions(image, region, n=2, radius=(1.5, 3.0), intensity=0.35, seed=3)
    numpy = seg.add_lesions(image, region, n=np.int64(2), radius=(np.float64(1.5), 3),
                            intensity=np.float64(0.35), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(plain, numpy, strict=True))


def test_plot_overlay() -> None:
    _, ax = plt.subplots()
    seg.plot_overlay(ax, np.zeros((5, 6)), np.eye(5, 6, dtype=int) * 2, title="t")
    assert len(ax.images) == 2 and ax.get_title() == "t"
    with pytest.raises(ValueError, match="image's shape"):
        seg.plot_overlay(ax, np.zeros((5, 6)), np.zeros((6, 5)))
    plt.close("all")


def test_dice_matches_monai_and_its_formula() -> None:
    from monai.metrics import DiceMetric
    from monai.networks.utils import one_hot

    rng = np.random.default_rng(0)
    true = rng.integers(0, 3, size=(12, 10))
    pred = np.where(rng.random((12, 10)) < 0.7, true, rng.integers(0, 3, size=(12, 10)))
    ours = [seg.dice(pred, true, c) for c in range(3)]
    theirs = DiceMetric(include_background=True, reduction="none")(
        one_hot(torch.tensor(pred)[None, None], 3), one_hot(torch.tensor(true)[None, None], 3))
    np.testing.assert_allclose(ours, theirs[0].numpy(), atol=1e-6)
    a = np.array([[1, 1, 0, 0]])
    b = np.array([[1, 0, 0, 0]])
    assert seg.dice(a, b, 1) == 2 * 1 / (2 + 1)          # 2|A∩B| / (|A| + |B|)
    assert seg.dice(torch.tensor(a), torch.tensor(b), 0) == 2 * 2 / (2 + 3)
    assert seg.dice(a, a, 1) == 1.0 and np.isnan(seg.dice(a, b, 5))  # absent from both: undefined


def test_dice_rejects_bad_input() -> None:
    a = np.zeros((4, 4), dtype=np.int64)
    with pytest.raises(ValueError, match="same shape"):
        seg.dice(a, a[:2], 1)
    with pytest.raises(TypeError, match="label map"):
        seg.dice(a.astype(np.float32), a, 1)
    with pytest.raises(TypeError, match="class label"):
        seg.dice(a, a, 1.0)  # type: ignore[arg-type]


def test_make_unet_is_the_unet_of_3_2_for_any_input_channels() -> None:
    torch.manual_seed(0)
    net = seg.make_unet(in_channels=2)
    out = net(torch.zeros(1, 2, 32, 24))
    assert out.shape == (1, 3, 32, 24)  # three stride-2 levels: multiples of 8 pass through
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].in_channels == 2 and max(c.out_channels for c in convs) == 128
    assert seg.make_unet(in_channels=1, out_channels=2)(torch.zeros(1, 1, 16, 16)).shape[1] == 2
    with pytest.raises(ValueError):
        seg.make_unet(in_channels=0)
    with pytest.raises(TypeError):
        seg.make_unet(in_channels=1.5)  # type: ignore[arg-type]


def test_gmm_segmenter_names_components_by_brightness() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=(30, 20))
    image = np.array([0.2, 0.5, 0.8])[labels] + rng.normal(0, 0.03, labels.shape)
    mask = np.ones(labels.shape, bool)
    mask[:2] = False
    segment = seg.gmm_segmenter(image, mask)
    pred = segment(image, mask)
    assert pred.dtype == np.uint8 and (pred[~mask] == 0).all()
    # three well-separated classes (10 sds apart): every voxel inside the mask recovered
    assert (pred[mask] == labels[mask]).all()
    with pytest.raises(ValueError, match="bool mask"):
        seg.gmm_segmenter(image, mask.astype(int))
    with pytest.raises(ValueError, match="fewer than"):
        seg.gmm_segmenter(image, np.zeros(labels.shape, bool))
    with pytest.raises(ValueError, match="share a shape"):
        segment(image, mask[:5])
