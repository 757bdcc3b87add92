"""Every figure (a code cell's image output, which myst-nb wraps in a numbered ``<figure>``
from the cell's ``mystnb`` metadata) has a caption, a label and alt text, also on the site."""

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from common import ROOT, SITE, built

from tools.notebooks import book_notebooks

NOTEBOOKS = book_notebooks()
# The keys myst-nb 1.x reads (render_figure_options, render_image_options): a
# misspelt or misplaced key is silently ignored, so it is an error here.
FIGURE_KEYS = {"caption", "name", "classes", "align", "caption_before"}
IMAGE_KEYS = {"alt", "classes", "width", "height", "scale", "align"}
NAME = re.compile(r"fig-[a-z0-9]+(-[a-z0-9]+)*")
# Alt text is read out as it is: no Markdown emphasis, code, links, roles or maths.
MARKUP = re.compile(r"[$`*_\\{}\[\]<>#]")
IMAGE_FILE = re.compile(r"\.(png|svg|jpe?g|gif)$", re.I)
params = pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)


def cells(path: Path) -> list[tuple[int, dict[str, Any], bool]]:
    """(index, cell, whether it has an image output) of every cell."""
    return [(i, cell, any(mime.startswith("image/") for out in cell.get("outputs", [])
                          for mime in out.get("data", {})))
            for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"])]


@params
def test_every_figure_has_a_caption_a_name_and_alt_text(path: Path) -> None:
    problems = []
    for index, cell, is_figure in cells(path):
        meta, where = cell["metadata"].get("mystnb", {}), f"cell {index}"
        figure, image = meta.get("figure", {}), meta.get("image", {})
        if not is_figure:  # myst-nb would put a code cell's text outputs in a figure
            problems += [f"{where}: figure metadata, no image"] * ("figure" in meta)
            continue
        unread = sorted(set(figure) - FIGURE_KEYS) + sorted(set(image) - IMAGE_KEYS)
        alt, name = str(image.get("alt", "")).strip(), figure.get("name")
        problems += [f"{where}: {message}" for message, bad in {
            f"keys myst-nb does not read: {unread}": unread,
            "no mystnb.figure.caption": not str(figure.get("caption", "")).strip(),
            f"mystnb.figure.name {name!r} is not fig-<words>": not NAME.fullmatch(str(name)),
            f"no mystnb.image.alt, or one with Markdown or maths: {alt!r}":
                not alt or MARKUP.search(alt)}.items() if bad]
    assert not problems, "\n".join(problems)


def test_figure_names_are_unique_across_the_book() -> None:
    # Each displayed output of a cell (less `glue(display=False)`) becomes a figure with the
    # cell's name, so a cell with two defines its label twice (a build warning).
    names: Counter[str] = Counter()
    for path in NOTEBOOKS:
        for _, cell, is_figure in cells(path):
            name = cell["metadata"].get("mystnb", {}).get("figure", {}).get("name")
            if is_figure and name:
                names[str(name)] += sum(
                    out["output_type"] in {"display_data", "execute_result"}
                    and not out.get("metadata", {}).get("scrapbook", {}).get("mime_prefix")
                    for out in cell["outputs"])
    assert not {name: n for name, n in names.items() if n > 1}, names.most_common(3)


def test_markup_check() -> None:
    assert MARKUP.search("the density of $N(0, 1)$") and MARKUP.search("*bold* and `code`")
    assert not MARKUP.search("Histogram of 10,000 samples, x from -4 to 4; bars follow the curve.")


@pytest.mark.site
@params
def test_site_images_are_captioned_figures_with_alt_text(path: Path) -> None:
    from bs4 import BeautifulSoup  # pydata-sphinx-theme's HTML parser, installed with the book

    built()
    page = SITE / path.relative_to(ROOT).with_suffix(".html")
    assert page.is_file(), f"{page.relative_to(ROOT)} is missing from the built site"
    html = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    images = html.select('[class*="cell_output"] img')
    # As many images as the notebook has figures: else the selector missed the output areas.
    assert len(images) >= sum(is_figure for *_, is_figure in cells(path)), page.name
    problems = []
    for img in images:
        src, alt = img.get("src", ""), str(img.get("alt", "")).strip()
        figure = img.find_parent("figure")
        caption = figure.figcaption if figure else None  # "Fig. 3" and "¶" are no caption
        if not caption or not re.sub(r"^\s*Fig\.\s*\d+|[#¶\s]", "", caption.get_text()):
            problems.append(f"{src}: not inside a <figure> with a caption")
        if not alt or alt == src or IMAGE_FILE.search(alt):
            problems.append(f"{src}: no alt text (alt={alt!r})")
    assert not problems, f"{page.name}:\n" + "\n".join(problems)
