"""One figure style for the whole book, and a check that figures are labelled.

Call :func:`use_book_style` once at the top of a notebook. Figures are rendered
as PNG: nbval does not compare PNG outputs, but it would compare SVG text, which
changes with every matplotlib release.
"""

from __future__ import annotations

import sys
from typing import Any

from cycler import cycler
from matplotlib import style
from matplotlib.figure import Figure

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
