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
    seen: list[float] = []

    def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen.append(float(model.scale.detach()))
        return nn.functional.cross_entropy(logits, y[:, 0])

    seg.train_segmentation(model, batches, loss_fn, epochs=2, lr=0.5, schedule="cosine",
                           progress=False)
    before_last = model.scale.detach().clone()
    assert len(seen) == 6
    with pytest.raises(ValueError, match="schedule must be"):
        seg.train_segmentation(model, batches, loss_fn, epochs=1, schedule="step")
    with pytest.raises(TypeError, match="length"):
        seg.train_segmentation(model, iter(batches), loss_fn, epochs=1, schedule="cosine")
    # the last step was taken at a rate of (1 + cos(5 pi / 6)) / 2 * 0.5, the steps shrink
    steps = np.abs(np.diff([*seen, float(before_last)]))
    assert steps[-1] < steps[0]


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
