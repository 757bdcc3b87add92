"""Sphinx extension: each chapter as a reveal.js slide deck, made from its reader notebooks.

When the site is built (either edition), every chapter's pages (``book/ch<n>_*``, in
order) are joined from the reader notebooks that ``reader_notebooks.py`` wrote, whose
MyST is already resolved (glued values, terms, the Chinese text in ``zh``), and
nbconvert's SlidesExporter writes ``<outdir>/slides/ch<n>.html``. Each cell's
``metadata.slideshow.slide_type`` (slide, fragment, ``-``, notes, skip; a cell without
it: notes for Markdown, skip for code) chooses what the lecturer projects; a figure
cell shows its figure, not its code. reveal.js (from the sphinx-revealjs wheel) and the
MathJax that sphinx-mathjax-offline serves come from the site: the decks work offline.
The first page of each chapter links its deck.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import sphinx_revealjs
from docutils import nodes
from jinja2 import DictLoader
from nbconvert import SlidesExporter

OUT = "slides"
PAGE = re.compile(r"^book/ch(\d+)_(\d+)_")
REVEAL = Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs"
ASSETS = ("dist/reveal.js", "dist/reveal.css", "dist/theme/white.css",
          "dist/theme/fonts/source-sans-pro", "plugin/notes/notes.js")
WIDTH, HEIGHT = 1280, 720
WORDS = {"en": {"link": "Slides for this chapter", "deck": "Chapter {n}: slides"},
         "zh": {"link": "本章幻灯片", "deck": "第 {n} 章幻灯片"}}
# nbconvert's reveal template without its CDN scripts (jQuery, RequireJS, Mermaid):
# reveal.js and MathJax 3 from the site, the slide size fixed, figures scaled to fit.
TEMPLATE = """{%- extends 'index.html.j2' -%}
{% block html_head_js %}{% endblock html_head_js %}
{% block html_head_js_mathjax %}
<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']],
  processEscapes: true}};</script>
<script defer src="{{ resources.mathjax_url }}"></script>
<style>
.reveal .slides section { text-align: left; }
.reveal h1, .reveal h2, .reveal h3 { text-transform: none; }
.reveal .jp-RenderedHTMLCommon { font-size: 26px; line-height: 1.4; }
.reveal .jp-RenderedHTMLCommon h1 { font-size: 44px; }
.reveal .jp-RenderedHTMLCommon h2 { font-size: 36px; }
.reveal .jp-RenderedHTMLCommon li { margin: 0.3em 0; }
.reveal .jp-RenderedImage img, .reveal .jp-RenderedMarkdown img {
  max-height: 540px; max-width: 100%; width: auto; height: auto; display: block; margin: 0 auto; }
.reveal .pr-explore svg.pr-figure { max-height: 470px; }
.reveal .pr-explore { font-size: 16px; }
.reveal mjx-container[display="true"] { font-size: 120%; }
</style>
{% endblock html_head_js_mathjax %}
{% block footer_js %}
<script src="{{ resources.reveal.url_prefix }}/dist/reveal.js"></script>
<script src="{{ resources.reveal.url_prefix }}/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({controls: true, progress: true, hash: true, center: true,
  slideNumber: 'c/t', transition: 'none', margin: 0.04, plugins: [RevealNotes],
  width: {{ resources.reveal.width }}, height: {{ resources.reveal.height }}});
</script>
{% endblock footer_js %}
"""


def edition(app: Any) -> str:
    return "zh" if (app.config.language or "en").startswith("zh") else "en"


def chapters(app: Any) -> dict[int, list[str]]:
    """Chapter number -> its pages, in order (the _toc.yml files named book/ch<n>_<k>_...)."""
    found: dict[int, list[tuple[int, str]]] = {}
    for docname in app.env.found_docs:
        if m := PAGE.match(docname):
            found.setdefault(int(m[1]), []).append((int(m[2]), docname))
    return {n: [d for _, d in sorted(pages)] for n, pages in sorted(found.items())}


def link(app: Any, doctree: nodes.document, docname: str) -> None:
    """The first page of a chapter links its deck, under the page title."""
    first = {pages[0]: n for n, pages in chapters(app).items()}
    section = doctree.next_node(nodes.section)
    if docname not in first or section is None or app.builder.name != "html":
        return
    html = (f'<p class="pr-slides-link">{WORDS[edition(app)]["link"]}: '
            f'<a href="../{OUT}/ch{first[docname]}.html">{OUT}/ch{first[docname]}.html</a></p>')
    section.insert(1, nodes.raw("", html, format="html"))


def slide_cell(cell: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    """The cell as the deck shows it, or None where it is skipped."""
    default = "notes" if cell.cell_type == "markdown" else "skip"
    kind = cell.metadata.get("slideshow", {}).get("slide_type", default)
    if kind == "skip" or cell.cell_type not in ("markdown", "code"):
        return None
    cell.metadata = nbformat.from_dict({"slideshow": {"slide_type": kind}})
    if cell.cell_type == "code":
        figures = [o for o in cell.outputs if "image/png" in o.get("data", {})
                   or "pr-explore" in str(o.get("data", {}).get("text/html", ""))]
        if figures:  # the figure is the slide; its code stays in the book
            cell.outputs = figures
            cell.metadata["transient"] = {"remove_source": True}
        cell.source = "\n".join(line for line in cell.source.split("\n")
                                if not line.startswith("# NBVAL_")).strip()
    return cell


def write_decks(app: Any, exception: Exception | None) -> None:
    if exception is not None or app.builder.name != "html":
        return
    out, lang = Path(app.outdir), edition(app)
    for asset in ASSETS:
        source, target = REVEAL / asset, out / OUT / "reveal.js" / asset
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
    exporter = SlidesExporter(
        extra_loaders=[DictLoader({"pr_slides.html.j2": TEMPLATE})],
        template_file="pr_slides.html.j2", reveal_url_prefix="reveal.js", reveal_theme="white",
        reveal_width=str(WIDTH), reveal_height=str(HEIGHT), language_code=lang,
        mathjax_url="../_static/mathjax/tex-chtml.js",
        exclude_input_prompt=True, exclude_output_prompt=True)
    for n, pages in chapters(app).items():
        cells = []
        for docname in pages:
            reader = nbformat.read(out / "_notebooks" / f"{docname}.ipynb", as_version=4)
            cells += [c for c in map(slide_cell, reader.cells) if c is not None]
        for i, cell in enumerate(cells):
            cell.id = f"slide-cell-{i}"  # unique across the chapter's pages
        deck = nbformat.v4.new_notebook(cells=cells, metadata={
            "title": WORDS[lang]["deck"].format(n=n), "language_info": {"name": "python"}})
        html, _ = exporter.from_notebook_node(deck)
        (out / OUT / f"ch{n}.html").write_text(html, encoding="utf-8")


def setup(app: Any) -> dict[str, Any]:
    app.connect("doctree-resolved", link)
    app.connect("build-finished", write_decks)
    return {"parallel_read_safe": True, "parallel_write_safe": False}
