"""Every figure of the book has a caption and alt text, in the notebooks and on the site.

A figure is a code cell's image output. Its caption, label and alt text are
myst-nb cell metadata, which wraps each displayed output of the cell in a
numbered ``<figure>``::

    "mystnb": {"figure": {"caption": "...", "name": "fig-..."}, "image": {"alt": "..."}}

The static tests read the committed notebooks. The site test reads the built
HTML (``_build/html``, from ``make book``) with the standard library's parser:
every image in a notebook's output area must sit in a ``<figure>`` with a
caption and carry real alt text (Sphinx falls back to the file name). Under CI
the site must be built; elsewhere that test skips and says why.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from common import ROOT, SITE, unavailable

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
# HTML elements without an end tag.
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "source", "track", "wbr"})

Cell = dict[str, Any]


def figure_cells(path: Path) -> list[tuple[int, Cell]]:
    """(index, cell) of every code cell with an image among its outputs."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [(i, cell) for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"
            and any(mime.startswith("image/") for out in cell.get("outputs", [])
                    for mime in out.get("data", {}))]


def displayed_outputs(cell: Cell) -> int:
    """How many outputs myst-nb wraps in a figure: display data, less `glue(display=False)`."""
    return sum(out["output_type"] in {"display_data", "execute_result"}
               and not out.get("metadata", {}).get("scrapbook", {}).get("mime_prefix")
               for out in cell.get("outputs", []))


def mystnb(cell: Cell) -> tuple[dict[str, Any], dict[str, Any]]:
    meta = cell["metadata"].get("mystnb", {})
    return meta.get("figure", {}), meta.get("image", {})


params = pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)


@params
def test_every_figure_has_a_caption_a_name_and_alt_text(path: Path) -> None:
    problems = []
    for index, cell in figure_cells(path):
        figure, image = mystnb(cell)
        where = f"cell {index}"
        unread = sorted(set(figure) - FIGURE_KEYS) + sorted(set(image) - IMAGE_KEYS)
        if unread:
            problems.append(f"{where}: keys myst-nb does not read: {unread}")
        if not str(figure.get("caption", "")).strip():
            problems.append(f"{where}: no mystnb.figure.caption")
        if not NAME.fullmatch(str(figure.get("name", ""))):
            problems.append(f"{where}: mystnb.figure.name {figure.get('name')!r} "
                            "is not fig-<words>")
        alt = str(image.get("alt", "")).strip()
        if not alt:
            problems.append(f"{where}: no mystnb.image.alt")
        elif MARKUP.search(alt):
            problems.append(f"{where}: alt text with Markdown or maths markup: {alt!r}")
    assert not problems, "\n".join(problems)


@params
def test_figure_metadata_only_on_figures(path: Path) -> None:
    # On a cell without an image, myst-nb would put its text outputs in a figure.
    nb = json.loads(path.read_text(encoding="utf-8"))
    figures = {i for i, _ in figure_cells(path)}
    stray = [i for i, cell in enumerate(nb["cells"])
             if "figure" in cell["metadata"].get("mystnb", {}) and i not in figures]
    assert not stray, f"figure metadata on cells without an image output: {stray}"


def test_figure_names_are_unique_across_the_book() -> None:
    # Each displayed output of a cell becomes a figure with the cell's name, so a
    # cell with two outputs defines its label twice (a duplicate target, a build warning).
    names: Counter[str] = Counter()
    for path in NOTEBOOKS:
        for _, cell in figure_cells(path):
            name = mystnb(cell)[0].get("name")
            if name:
                names[str(name)] += displayed_outputs(cell)
    duplicates = {name: n for name, n in names.items() if n > 1}
    assert not duplicates, f"figure labels defined more than once: {duplicates}"


def test_markup_check() -> None:
    assert MARKUP.search("the density of $N(0, 1)$")
    assert MARKUP.search("*bold* and `code`")
    assert not MARKUP.search("Histogram of 10,000 samples, x from -4 to 4; bars follow the curve.")


class OutputImages(HTMLParser):
    """Collects the images inside notebook output areas, with their figure and its caption."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, list[str], dict[str, str] | None]] = []
        self.images: list[tuple[dict[str, str | None], dict[str, str] | None]] = []

    def figure(self) -> dict[str, str] | None:
        return next((fig for tag, _, fig in reversed(self.stack) if tag == "figure"), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "img" and any("cell_output" in c for _, cls, _ in self.stack for c in cls):
            self.images.append((dict(attrs), self.figure()))
        if tag not in VOID:
            self.stack.append((tag, classes, {"caption": ""} if tag == "figure" else None))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        figure = self.figure()
        if figure is not None and any(tag == "figcaption" for tag, _, _ in self.stack):
            figure["caption"] += data


def output_images(html: str) -> list[tuple[dict[str, str | None], dict[str, str] | None]]:
    parser = OutputImages()
    parser.feed(html)
    parser.close()
    return parser.images


def test_output_images_parser() -> None:
    html = ('<div class="cell_output docutils container"><figure id="fig-a">'
            '<img alt="A plot." src="a.png" /><figcaption><p>Fig. 1 A plot.</p></figcaption>'
            '</figure><img alt="b.png" src="b.png"></div><img src="logo.png">')
    (alt_a, fig_a), (alt_b, fig_b) = output_images(html)
    assert alt_a["alt"] == "A plot." and fig_a == {"caption": "Fig. 1 A plot."}
    assert alt_b["alt"] == "b.png" and fig_b is None


@pytest.mark.site
@params
def test_site_images_are_captioned_figures_with_alt_text(path: Path) -> None:
    if not (SITE / "index.html").is_file():
        unavailable("the site is not built: run `make book` first")
    page = SITE / path.relative_to(ROOT).with_suffix(".html")
    assert page.is_file(), f"{page.relative_to(ROOT)} is missing from the built site"
    images = output_images(page.read_text(encoding="utf-8"))
    # As many images as the notebook has figures: else the parser missed the output areas.
    assert len(images) >= len(figure_cells(path)), f"{page.name}: images not found in the outputs"
    problems = []
    for attrs, figure in images:
        src, alt = attrs.get("src") or "", (attrs.get("alt") or "").strip()
        if figure is None:
            problems.append(f"{src}: not inside a <figure>")
        elif not re.sub(r"^\s*Fig\.\s*\d+|[#¶\s]", "", figure["caption"]):
            problems.append(f"{src}: its <figure> has no caption")
        if not alt or alt == src or IMAGE_FILE.search(alt):
            problems.append(f"{src}: no alt text (alt={alt!r})")
    assert not problems, f"{page.name}:\n" + "\n".join(problems)
