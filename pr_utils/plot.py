"""One figure style for the whole book, and a check that figures are labelled.

Call :func:`use_book_style` once at the top of a notebook. Figures are rendered
as PNG: nbval does not compare PNG outputs, but it would compare SVG text, which
changes with every matplotlib release.
"""

from __future__ import annotations

import sys
from typing import Any

import matplotlib.pyplot as plt
from cycler import cycler
from matplotlib import style
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

#: Okabe & Ito's colour-blind-safe palette, used as the default colour cycle.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)

BOOK_RC: dict[str, Any] = {
    "figure.figsize": [6.4, 4.0],
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "image.cmap": "viridis",
    "lines.linewidth": 1.8,
    "legend.frameon": False,
}


def use_book_style() -> None:
    """Apply the book's matplotlib style and make inline figures PNG."""
    style.use(BOOK_RC)
    if "IPython" in sys.modules:
        from IPython import get_ipython

        if get_ipython() is not None:
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            set_matplotlib_formats("png")  # type: ignore[no-untyped-call]


def check_labels(fig: Figure, *, allow_images: bool = True) -> None:
    """Raise ``ValueError`` if a visible axes of ``fig`` lacks an x or y label.

    Axes that show an image (``imshow``) are exempt when ``allow_images`` is
    true: pixel coordinates of a brain slice need no axis label. Notebooks call
    this in their assertion cells so that an unlabelled plot cannot land.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    missing = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.axison:
            continue
        if allow_images and ax.images:
            continue
        if getattr(ax, "_colorbar", None) is not None:  # a colour bar labels itself
            continue
        if not ax.get_xlabel() or not ax.get_ylabel():
            missing.append(f"axes {i} ({ax.get_title() or 'untitled'})")
    if missing:
        raise ValueError("every plot needs x and y labels; missing on: " + ", ".join(missing))


def _unet_stages(net: Any, size: tuple[int, int]) -> tuple[int, dict[tuple[str, int], Any]]:
    """The number of levels of a MONAI ``UNet`` and, per stage (``("down", i)``,
    ``("up", i)``, ``("bottom", 0)``), its input channels and output shape for a zero
    input of ``size``, recorded by forward hooks."""
    import torch

    block, downs, ups = net.model, [], []
    while isinstance(block, torch.nn.Sequential):  # MONAI nests: down, SkipConnection(...), up
        downs.append(block[0])
        ups.append(block[2])
        block = block[1].submodule
    if size[0] % 2 ** len(downs) or size[1] % 2 ** len(downs):
        raise ValueError(f"size must be divisible by {2 ** len(downs)} for a U-Net with "
                         f"{len(downs)} stride-2 levels, got {size}")
    shapes: dict[tuple[str, int], Any] = {}
    hooks = [layer.register_forward_hook(
        lambda m, inp, out, key=(name, i): shapes.__setitem__(key, (inp[0].shape[1], out.shape)))
        for name, layers in (("down", downs), ("up", ups), ("bottom", [block]))
        for i, layer in enumerate(layers)]
    try:
        with torch.no_grad():
            net(torch.zeros(1, net.in_channels, *size))
    finally:
        for hook in hooks:
            hook.remove()
    return len(downs), shapes


def _box(ax: Axes, x: float, y: float, text: str, colour: str, width: float = 1.6) -> None:
    ax.add_patch(Rectangle((x - width / 2, y - 0.3), width, 0.6, facecolor=colour,
                           edgecolor="black", linewidth=0.8))
    ax.text(x, y, text, ha="center", va="center", fontsize=8)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float],
           colour: str = "0.3") -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11, color=colour,
                                 linewidth=1.2))


def draw_unet(net: Any, size: tuple[int, int] = (152, 184), *, ax: Axes | None = None) -> Figure:
    """Draw a 2-D MONAI ``UNet`` as a U, from the model itself: a zero input of
    ``size`` (height, width) goes through it, and each stage's box shows the
    channels and resolution it outputs. Returns the figure (on ``ax`` if given).

    Raises ``TypeError`` unless ``net`` is a MONAI ``UNet`` and ``size`` a pair of
    ints, ``ValueError`` unless ``size`` is positive and divisible by ``2 ** levels``.
    """
    import torch

    if not isinstance(net, torch.nn.Module) or not isinstance(getattr(net, "model", None),
                                                               torch.nn.Sequential):
        raise TypeError(f"net must be a MONAI UNet, got {type(net).__name__}")
    if (not isinstance(size, tuple) or len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in size)):
        raise TypeError(f"size must be a pair of ints (height, width), got {size!r}")
    if min(size) <= 0:
        raise ValueError(f"size must be positive, got {size}")
    levels, shapes = _unet_stages(net, size)
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 5))
    x_down = x_up = 0.0
    for i in range(levels):
        _, out = shapes["down", i]
        up_in, up_out = shapes["up", i]
        y, x_down, x_up = -i, 1.6 + 0.8 * i, 8.4 - 0.8 * i
        _box(ax, x_down, y, f"down {i + 1}: {out[1]} ch\n{out[2]}×{out[3]}", "#CDE7F0")
        _box(ax, x_up, y, f"up {i + 1}: {up_in} → {up_out[1]} ch\n{up_out[2]}×{up_out[3]}",
             "#FBE3C4", width=1.9)
        _arrow(ax, (x_down + 0.8, y + 0.1), (x_up - 0.95, y + 0.1), "#0072B2")  # skip
        if i + 1 < levels:
            _arrow(ax, (x_down + 0.3, y - 0.3), (x_down + 0.6, y - 0.7))
            _arrow(ax, (x_up - 0.6, y - 0.7), (x_up - 0.3, y - 0.3))
    b_in, b_out = shapes["bottom", 0]
    _box(ax, 5.0, -levels, f"bottom: {b_in} → {b_out[1]} ch\n{b_out[2]}×{b_out[3]}", "#E4D4EC",
         width=2.1)
    _arrow(ax, (x_down + 0.3, -levels + 0.7), (4.2, -levels + 0.1))
    _arrow(ax, (5.8, -levels + 0.1), (x_up - 0.3, -levels + 0.7))
    _box(ax, -0.5, 0.9, f"input: {net.in_channels} slices\n{size[0]}×{size[1]}", "#F5F5F5")
    _box(ax, 10.5, 0.9, f"output: {net.out_channels} classes\n{size[0]}×{size[1]}", "#F5F5F5")
    _arrow(ax, (0.3, 0.9), (1.3, 0.35))
    _arrow(ax, (8.9, 0.35), (9.7, 0.9))
    ax.text(5, 0.35, "skip connections: concatenated with the upsampled features",
            ha="center", color="#0072B2")
    ax.text(0.6, -levels, "contracting path:\nconvolutions with stride 2", ha="center")
    ax.text(9.4, -levels, "expanding path:\ntransposed convolutions", ha="center")
    ax.set(xlim=(-1.4, 11.4), ylim=(-levels - 0.45, 1.3))
    ax.axis("off")
    figure = ax.get_figure()
    assert isinstance(figure, Figure)
    return figure
