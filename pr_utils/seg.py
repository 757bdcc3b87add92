"""Segmentation plumbing for Chapter 3: slice data lists for MONAI, a training
loop with device handling, prediction, synthetic lesions and overlay plots.

Losses and metrics are taught in the notebooks, written from their formulas and
checked against MONAI's; this module holds only what is reused around them, and
what a page has taught once and later pages reuse: :func:`dice` and
:func:`gmm_segmenter` (3.1), :func:`make_unet` (3.2).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sized
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap

from pr_utils._checks import (
    as_device,
    integer_labels,
    lr_fits,
    non_negative_int,
    number,
    positive,
    trainable,
)
from pr_utils.runtime import progress_bar, show_progress

#: Overlay colours for label 1, 2, 3, ... (label 0 is left transparent).
# Okabe & Ito's palette: orange, sky blue, reddish purple, green. The third (the
# class 3 that pages use for errors, lesions or extra pixels) is purple, not
# vermillion, which next to the orange of grey matter reads as the same colour.
LABEL_COLOURS = ("#E69F00", "#56B4E9", "#CC79A7", "#009E73")


def _volume(name: str, value: Any, ndim: int = 3) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return arr


def slice_items(image: Any, labels: Any, indices: Iterable[int], *,
                context: int = 0) -> list[dict[str, np.ndarray]]:
    """MONAI-style data list of axial slices ``[:, :, z]`` for ``z`` in ``indices``:
    ``{"image": (C, X, Y) float32, "label": (1, X, Y) int64}`` per slice.

    With ``context=k`` the image has ``C = 2k + 1`` channels, the slices
    ``z - k, ..., z + k`` (repeating the edge slice at the volume's ends): a
    "2.5D" input that shows a 2D network its neighbours above and below.
    ``labels`` must hold non-negative whole numbers (class indices) and ``indices``
    ints (Python or NumPy).
    """
    img = _volume("image", image)
    lab = integer_labels("labels", _volume("labels", labels), non_negative=True)
    if img.shape != lab.shape:
        raise ValueError(f"image and labels must have the same shape, got {img.shape} "
                         f"and {lab.shape}")
    context = non_negative_int("context", context)
    depth = img.shape[2]
    zs = []
    for z in indices:
        if isinstance(z, bool) or not isinstance(z, (int, np.integer)):
            raise TypeError(f"indices must hold ints (slice numbers), got {z!r}")
        if not 0 <= z < depth:
            raise ValueError(f"slice index {z} outside [0, {depth})")
        zs.append(int(z))
    if not zs:
        raise ValueError("indices must not be empty")
    items: list[dict[str, np.ndarray]] = []
    for z in zs:
        near = np.clip(np.arange(z - context, z + context + 1), 0, depth - 1)
        items.append({"image": np.moveaxis(img[:, :, near], -1, 0).astype(np.float32),
                      "label": lab[None, :, :, z].astype(np.int64)})
    return items


def _finite_batch(batch: Any, epoch: int, step: int) -> None:
    if not isinstance(batch, Mapping) or not all(isinstance(batch.get(k), torch.Tensor)
                                              for k in ("image", "label")):
        raise TypeError(f"epoch {epoch}, batch {step}: the loader must yield dicts with "
                        f"tensors 'image' and 'label', got {type(batch).__name__}")
    if not bool(torch.isfinite(batch["image"]).all()):
        raise ValueError(f"epoch {epoch}, batch {step}: the images contain NaN or inf; "
                         "clean or impute them before training")


def _epoch_batches(loader: Iterable[dict[str, torch.Tensor]],
                   epoch: int) -> Iterable[dict[str, torch.Tensor]]:
    """The first epoch's batches, all drawn and checked before the first step (so that
    a bad batch is reported before any weight changes); later epochs' as they come."""
    if epoch > 1:
        return loader
    batches = list(loader)
    for step, batch in enumerate(batches, 1):
        _finite_batch(batch, epoch, step)
    return batches


def _check_segmentation(model: Any, loader: Any, *, epochs: Any, lr: Any, device: Any,
                        schedule: Any, progress: Any) -> torch.device:
    """The checks of :func:`train_segmentation`, all before any work; returns the device."""
    positive("epochs", epochs, integer=True)
    positive("lr", lr)
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    show_progress(progress)  # TypeError before any work
    trainable(model)
    lr_fits("lr", lr, model.parameters())
    if schedule == "cosine" and not isinstance(loader, Sized):
        raise TypeError("schedule='cosine' needs a loader with a length (a DataLoader or list)")
    return as_device("device", device) or next(model.parameters()).device


def _train_epoch(model: torch.nn.Module, loader: Iterable[dict[str, torch.Tensor]],
                 loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler | None, device: torch.device,
                 epoch: int) -> float:
    """One pass over ``loader``, one optimiser step per batch; the mean loss per image.
    A non-finite loss raises before its step."""
    model.train()
    total, count = 0.0, 0
    for step, batch in enumerate(_epoch_batches(loader, epoch), 1):
        if epoch > 1:
            _finite_batch(batch, epoch, step)
        x, y = batch["image"].to(device), batch["label"].to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError(
                f"epoch {epoch}, batch {step}: the loss is {float(loss.detach())}; lower the "
                f"learning rate (now {optimizer.param_groups[0]['lr']:.3g}) or check "
                "the loss function and labels")
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += float(loss.detach()) * len(x)
        count += len(x)
    if count == 0:
        raise ValueError("loader yielded no batches")
    return total / count


def train_segmentation(model: torch.nn.Module, loader: Iterable[dict[str, torch.Tensor]],
                       loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *,
                       epochs: int, lr: float = 1e-3, device: torch.device | None = None,
                       schedule: str = "constant",
                       progress: bool | None = None) -> dict[str, list[float]]:
    """Train ``model`` with Adam on batches ``{"image", "label"}`` from ``loader``.

    ``loss_fn(logits, labels)`` receives the raw network output ``(B, C, ...)``
    and the integer labels ``(B, 1, ...)``, as MONAI's losses with
    ``to_onehot_y=True, softmax=True`` expect. ``schedule="cosine"`` lets the
    learning rate decay from ``lr`` to 0 along a cosine over all steps
    (``torch.optim.lr_scheduler.CosineAnnealingLR``; the loader needs a length),
    which usually ends in a better model than a constant rate for the same
    number of epochs. Returns the mean loss and the wall time of each epoch.
    A progress bar over the epochs (with the last epoch's loss) appears after two
    seconds when ``progress`` is ``True``, or when it is ``None`` (the default)
    and the environment variable ``PR_UTILS_PROGRESS`` is not ``0``
    (:func:`pr_utils.runtime.show_progress`).

    Raises ``ValueError`` for images with NaN or inf (the first epoch's batches are
    all drawn and checked before the first step, so they are held in memory
    together), for a model without parameters or with non-finite ones, and
    ``FloatingPointError`` naming the epoch and batch as soon as the loss is not
    finite (a diverging learning rate, say), instead of training on to a model of NaNs.
    """
    device = _check_segmentation(model, loader, epochs=epochs, lr=lr, device=device,
                                 schedule=schedule, progress=progress)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = None
    if schedule == "cosine":
        assert isinstance(loader, Sized)  # checked
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * len(loader))
    history: dict[str, list[float]] = {"loss": [], "seconds": []}
    bar = progress_bar(range(1, epochs + 1), progress=progress)
    for epoch in bar:
        start = time.perf_counter()
        history["loss"].append(_train_epoch(model, loader, loss_fn, optimizer, scheduler,
                                            device, epoch))
        history["seconds"].append(time.perf_counter() - start)
        bar.set_postfix(loss=f"{history['loss'][-1]:.4g}", refresh=False)
    return history


def predict_slices(model: torch.nn.Module, images: Any, *, batch_size: int = 16,
                   device: torch.device | None = None, flip_axis: int | None = None) -> np.ndarray:
    """Label maps ``(N, X, Y)`` predicted for images ``(N, C, X, Y)`` (argmax over classes).

    The slices are the ``N`` slices of one volume, which MONAI's ``SliceInferer``
    feeds to the 2-D ``model`` ``batch_size`` at a time (on ``device``, default the
    model's), collecting the class probabilities on the CPU. With ``flip_axis``
    (1 for X, 2 for Y of each ``(C, X, Y)`` image) they are averaged with those of
    the mirrored volume, mirrored back: test-time augmentation for a network
    trained with random flips.
    """
    from monai.inferers.inferer import SliceInferer

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, X, Y), got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("images contain NaN or inf")
    positive("batch_size", batch_size, integer=True)
    if flip_axis not in (None, 1, 2):
        raise ValueError(f"flip_axis must be None, 1 or 2, got {flip_axis!r}")
    parameter = next(model.parameters(), None)
    device = as_device("device", device) or (parameter.device if parameter is not None
                                             else torch.device("cpu"))
    model.eval()
    # (1, C, N, X, Y): one volume whose first spatial axis runs over the slices
    volume = x.transpose(0, 1)[None]
    inferer = SliceInferer(spatial_dim=0, roi_size=tuple(x.shape[2:]), sw_batch_size=batch_size,
                           sw_device=device, device="cpu")

    def probabilities(xb: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model(xb), dim=1)

    with torch.inference_mode():
        p = torch.as_tensor(inferer(volume, probabilities))
        if flip_axis is not None:
            dim = flip_axis + 2  # (1, K, N, X, Y)
            p = (p + torch.as_tensor(inferer(volume.flip(dim), probabilities)).flip(dim)) / 2
    return p[0].argmax(dim=0).numpy()


def make_unet(*, in_channels: int, out_channels: int = 3) -> torch.nn.Module:
    """The 2-D MONAI U-Net that 3.2 builds and draws (four levels, 16-128 channels,
    three stride-2 steps, one residual unit each), for any number of input channels.

    3.2 writes it out and checks it against this one; later pages import it.
    """
    from monai.networks.nets.unet import UNet

    positive("in_channels", in_channels, integer=True)
    positive("out_channels", out_channels, integer=True)
    return UNet(spatial_dims=2, in_channels=in_channels, out_channels=out_channels,
                channels=(16, 32, 64, 128), strides=(2, 2, 2), num_res_units=1)


def gmm_segmenter(image: Any, mask: Any, *, n_classes: int = 3,
                  seed: int = 0) -> Callable[[Any, Any], np.ndarray]:
    """The generative baseline of 3.1, saved for later pages: a Gaussian mixture
    fitted to the intensities of ``image`` inside ``mask`` (scikit-learn), its
    components named 0, 1, 2, ... by increasing mean (CSF, grey, white matter on T1).

    Returns ``segment(image, mask)``, which labels every voxel inside ``mask`` with
    its most probable component's class and leaves the rest 0.
    """
    from sklearn.mixture import GaussianMixture

    img, msk = np.asarray(image), np.asarray(mask)
    if not np.issubdtype(img.dtype, np.floating):  # float32 stays float32, as in 3.1
        img = img.astype(np.float64)
    if img.shape != msk.shape or msk.dtype != bool:
        raise ValueError(f"image and a bool mask of the same shape expected, got {img.shape} "
                         f"and {msk.shape} ({msk.dtype})")
    positive("n_classes", n_classes, integer=True)
    if msk.sum() < n_classes:
        raise ValueError(f"the mask holds {int(msk.sum())} voxels, fewer than {n_classes} classes")
    gmm = GaussianMixture(n_components=n_classes, random_state=seed).fit(img[msk][:, None])
    to_class = np.empty(n_classes, int)
    to_class[np.argsort(gmm.means_[:, 0])] = np.arange(n_classes)

    def segment(new_image: Any, new_mask: Any) -> np.ndarray:
        x, m = np.asarray(new_image), np.asarray(new_mask, dtype=bool)
        if x.shape != m.shape:
            raise ValueError(f"image and mask must share a shape, got {x.shape} and {m.shape}")
        out = np.zeros(x.shape, np.uint8)
        out[m] = to_class[gmm.predict(x[m][:, None])]
        return out

    return segment


def dice(pred: Any, true: Any, c: int) -> float:
    """Dice overlap 2|A∩B| / (|A| + |B|) of class ``c`` between two label maps.

    Taught and checked against MONAI's ``DiceMetric`` in 3.1 and 3.2; later pages
    import it from here. ``pred`` and ``true`` are integer or bool label maps
    (NumPy or torch) of the same shape. Returns NaN when class ``c`` is absent
    from both, where Dice is undefined (MONAI's ``ignore_empty`` convention).
    """
    a, b = (np.asarray(v.cpu() if isinstance(v, torch.Tensor) else v) for v in (pred, true))
    if a.shape != b.shape:
        raise ValueError(f"pred and true must have the same shape, got {a.shape} and {b.shape}")
    for name, arr in (("pred", a), ("true", b)):
        if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
            raise TypeError(f"{name} must be an integer or bool label map, got dtype {arr.dtype}")
    if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
        raise TypeError(f"c must be an integer class label, got {c!r}")
    in_a, in_b = a == c, b == c
    total = int(in_a.sum()) + int(in_b.sum())
    if total == 0:
        return float("nan")
    return 2.0 * int(np.logical_and(in_a, in_b).sum()) / total


def add_lesions(image: Any, region: Any, *, n: int, radius: tuple[float, float] = (1.5, 3.0),
                intensity: float = 0.35, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Place ``n`` small round lesions of lower intensity inside ``region`` of a 2-D
    or 3-D image, like the white-matter injuries of the neonatal example.

    Returns the new image and the bool lesion mask. Lesion centres are drawn
    uniformly from ``region``; each lesion is a ball of random radius in
    ``radius`` (voxels) whose intensity is set to ``intensity``, with a soft
    one-voxel edge. Lesions are clipped to ``region`` in the image and in the mask
    alike: every voxel the function darkens, its soft edge included, is labelled
    lesion, and no lesion voxel lies outside ``region``.
    """
    img = np.asarray(image, dtype=np.float32).copy()
    reg = np.asarray(region, dtype=bool)
    if img.shape != reg.shape or img.ndim not in (2, 3):
        raise ValueError(f"image and region must share a 2-D or 3-D shape, got {img.shape} "
                         f"and {reg.shape}")
    positive("n", n, integer=True)
    if not isinstance(radius, (tuple, list)) or len(radius) != 2:
        raise TypeError(f"radius must be a pair (low, high) of voxel radii, got {radius!r}")
    if not 0 < number("radius", radius[0]) <= number("radius", radius[1]):
        raise ValueError(f"radius must be (low, high) with 0 < low <= high, got {radius}")
    number("intensity", intensity)
    candidates = np.argwhere(reg)
    if len(candidates) == 0:
        raise ValueError("region is empty")
    if n > len(candidates):
        raise ValueError(f"n={n} lesions need as many distinct centres, but region holds "
                         f"only {len(candidates)} voxels")
    rng = np.random.default_rng(seed)
    grids = np.indices(img.shape, dtype=np.float32)
    lesions = np.zeros(img.shape, dtype=bool)
    for centre in candidates[rng.choice(len(candidates), size=n, replace=False)]:
        r = rng.uniform(*radius)
        dist = np.sqrt(sum((g - c) ** 2 for g, c in zip(grids, centre, strict=True)))
        weight = np.clip(r + 0.5 - dist, 0.0, 1.0) * reg  # 1 inside, soft one-voxel edge
        img = (1 - weight) * img + weight * intensity
        lesions |= weight > 0
    return img.astype(np.float32), lesions


def plot_overlay(ax: Axes, image: Any, labels: Any = None, *, alpha: float = 0.45,
                 title: str = "", rotate: bool = True) -> None:
    """Show a 2-D slice in grey with its label map (classes 1, 2, ...) in colour.

    With ``rotate=True`` an ``[x, y]`` slice is turned to radiological-looking
    orientation (anterior up) for display only.
    """
    img = _volume("image", image, 2)
    prep: Callable[[np.ndarray], np.ndarray] = (lambda a: np.rot90(a)) if rotate else (lambda a: a)
    ax.imshow(prep(img), cmap="gray")
    if labels is not None:
        lab = _volume("labels", labels, 2)
        if lab.shape != img.shape:
            raise ValueError(f"labels must have the image's shape {img.shape}, got {lab.shape}")
        n = int(lab.max())
        if n > 0:
            cmap = ListedColormap(list(LABEL_COLOURS[:n]))
            ax.imshow(np.ma.masked_equal(prep(lab), 0), cmap=cmap, vmin=0.5, vmax=n + 0.5,
                      alpha=alpha, interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")
