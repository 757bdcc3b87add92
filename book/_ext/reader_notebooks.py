"""Sphinx extension: reader-ready copies of the notebooks, written from the page Sphinx resolved.

The notebooks in ``book/`` are written for Jupyter Book: their Markdown holds MyST
roles and directives that Colab and Jupyter would show as raw text, with every
solution in plain view. While the site is built, this extension writes a copy of
each notebook from the page's *resolved* document, where glued values, terms,
citations, cross-references, exercise numbers and (in the Chinese edition) the
translations are already in place, so the copy says what the page says:

- each Markdown cell is plain Markdown (CommonMark with a little HTML, which Colab,
  JupyterLab and Notebook 7 render); maths stays ``$...$``, figures are images
  inlined as data URIs, admonitions are block quotes, a citation keeps the page's
  "[Author, year]" and the copy ends with a References cell;
- a solution is folded in ``<details>``; a solution's code cells get Colab's form
  title and ``cellView: form``, JupyterLab's ``source_hidden``, and lose their
  outputs (they would give the answer away). The code still runs top to bottom;
- code cells keep their source and outputs, except outputs that only carried a
  glued value to the page; the setup cell pins the commit the copy is made from.

Copies go to ``<outdir>/_notebooks/book/`` (with ``binder/`` and a README, the
layout of the branch the launch buttons open, ``editions.py``) and replace the
notebook behind the page's download button (``_sources``).
"""

from __future__ import annotations

import base64
import copy
import mimetypes
import re
import subprocess
from pathlib import Path
from typing import Any

import nbformat
from docutils import nodes
from sphinx import addnodes
from sphinx.locale import admonitionlabels

OUT = "_notebooks"
RECORD = "application/papermill.record/"  # myst-nb's glue output
CELL = "cell_code"
PIN = re.compile(r'(pr-utils @ git\+\S+?)@[\w.\-/]+"')  # the setup cell's pr_utils
WORDS = {"en": {"code": "{title} (code)", "continued": "{title} (continued)",
                "figure": "Figure {n}", "references": "References",
                "1": "The solution goes on in code: the next code cell, folded under "
                     "\"{code}\". Run it to check the answer.",
                "n": "The solution goes on in code: the next {k} code cells, each folded "
                     "under \"{code}\". Run them to check the answer."},
         "zh": {"code": "{title}（代码）", "continued": "{title}（续）",
                "figure": "图 {n}", "references": "参考文献",
                "1": "解答接下来是代码：下一个代码单元，折叠在“{code}”下。运行它来检验答案。",
                "n": "解答接下来是代码：接下来的 {k} 个代码单元，各自折叠在“{code}”下。"
                     "运行它们来检验答案。"}}
SKIP = (nodes.target, nodes.comment, nodes.substitution_definition, nodes.raw, addnodes.index)


class ReaderNotebookError(ValueError):
    """A node this converter does not know: it must be taught, not dropped."""


def escape(text: str) -> str:
    for char in "\\`*_$":
        text = text.replace(char, "\\" + char)
    return text.replace("<", "&lt;")


def data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def indent(text: str, lead: str) -> str:
    pad = " " * len(lead)
    return "\n".join((lead if i == 0 else pad if line else "") + line
                     for i, line in enumerate(text.split("\n")))


class Page:
    """One notebook page's conversion: a walk over the resolved doctree."""

    def __init__(self, app: Any, docname: str, nb: nbformat.NotebookNode, words: dict[str, str]):
        self.app, self.docname, self.nb, self.words = app, docname, nb, words
        self.cells: list[nbformat.NotebookNode] = []
        self.blocks: list[str] = []
        self.cell: int | None = None  # the source cell of the Markdown in self.blocks
        self.solution: str | None = None  # the summary of the solution being written
        self.solved = ""  # that solution's title ("Solution to Exercise 7")
        self.after_code = False
        self.references: dict[str, str] = {}

    # --- cells -----------------------------------------------------------------
    def flush(self) -> None:
        text = "\n\n".join(b for b in self.blocks if b.strip()).strip()
        if self.solution is not None and text:
            text = f"<details>\n<summary>{self.solution}</summary>\n\n{text}\n\n</details>"
        if text:
            self.cells.append(nbformat.v4.new_markdown_cell(text))
            source = self.nb.cells[self.cell - 1] if self.cell else {}  # (index + 1) * 10000
            if "slideshow" in source.get("metadata", {}):  # book/_ext/slides.py reads it
                self.cells[-1].metadata["slideshow"] = dict(source["metadata"]["slideshow"])
        self.blocks = []

    def add(self, block: str, node: nodes.Node) -> None:
        line = getattr(node, "line", None)
        if line and self.cell not in (None, line // 10000) and self.solution is None:
            self.flush()  # myst-nb numbers a line as cell index * 10000 + line in the cell
        if line:
            self.cell = line // 10000
        self.after_code = False
        self.blocks.append(block)

    def code_cell(self, node: nodes.Element) -> None:
        if self.solution is not None and not self.after_code:  # the first of a run
            siblings = node.parent.children[node.parent.index(node):]
            k = next((i for i, n in enumerate(siblings) if n.get("nb_element") != CELL),
                     len(siblings))
            code = self.words["code"].format(title=self.solved)
            self.blocks.append(f"*{self.words['1' if k == 1 else 'n'].format(k=k, code=code)}*")
        self.flush()
        self.cell, self.after_code = None, True
        cell = copy.deepcopy(self.nb.cells[node["cell_index"]])
        cell.outputs = [o for o in cell.get("outputs", [])
                        if not any(k.startswith(RECORD) for k in o.get("data", {}))]
        if self.solution is not None:  # Colab shows the title; the code stays folded
            title = self.words["code"].format(title=self.solved)
            cell.source = f'# @title {title} {{ display-mode: "form" }}\n{cell.source}'
            cell.metadata["cellView"] = "form"
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
            cell.outputs, cell.execution_count = [], None
            self.solution = self.words["continued"].format(title=self.solved)
        self.cells.append(cell)
        for figure in node.findall(nodes.figure):
            if cell.outputs:
                self.cells.append(nbformat.v4.new_markdown_cell(self.caption(figure)))

    # --- blocks ----------------------------------------------------------------
    def walk(self, node: nodes.Element, depth: int = 0) -> None:
        for child in node.children:
            self.block(child, depth)

    def block(self, node: nodes.Node, depth: int) -> None:
        if isinstance(node, SKIP) or not isinstance(node, nodes.Element):
            return
        if node.get("nb_element") == CELL:
            self.code_cell(node)
        elif isinstance(node, nodes.section):
            titled = bool(node.children) and isinstance(node.children[0], nodes.title)
            if titled:
                self.add(f"{'#' * (depth + 1)} {self.inline(node.children[0])}", node.children[0])
            for child in node.children[1 if titled else 0:]:
                self.block(child, depth + 1 if titled else depth)
        elif type(node).__name__ == "exercise_enumerable_node":
            number = self.number(node)
            title = node.children[0]
            subtitle = f" ({self.inline(title)})" if title.astext().strip() else ""
            self.add(f"**{title['title'].replace('%s', number)}**{subtitle}", node)
            self.walk(node.children[1], depth)
        elif type(node).__name__ == "solution_node":
            self.flush()
            self.solution = self.solved = node.children[0].astext().strip()
            self.walk(node.children[1], depth)
            self.flush()
            self.solution = None
        else:
            self.add(self.render(node), node)

    def number(self, node: nodes.Element, kind: str = "exercise") -> str:
        """The number the page gives a figure or an exercise (numbered across the book)."""
        numbers = self.app.env.toc_fignumbers.get(self.docname, {}).get(kind, {})
        return ".".join(map(str, numbers.get((node["ids"] or [""])[0], ())))

    def caption(self, figure: nodes.Element) -> str:
        caption = figure.next_node(nodes.caption)
        if caption is None:
            return ""
        label = self.words["figure"].format(n=self.number(figure, "figure")).strip()
        return f"*{label}: {self.inline(caption)}*"

    def render(self, node: nodes.Element) -> str:
        """A block node, and everything under it, as Markdown."""
        if isinstance(node, nodes.paragraph):
            return self.inline(node)
        if isinstance(node, nodes.math_block):
            return f"$$\n{node.astext().strip()}\n$$"
        if isinstance(node, nodes.literal_block):
            return f"```{node.get('language', '')}\n{node.astext()}\n```"
        if isinstance(node, (nodes.bullet_list, nodes.enumerated_list)):
            items = []
            for i, item in enumerate(node.children, start=1):
                lead = f"{i}. " if isinstance(node, nodes.enumerated_list) else "- "
                items.append(indent(self.children(item), lead))
            return "\n".join(items)
        if isinstance(node, nodes.Admonition):
            title = node.next_node(nodes.title)
            label = (self.inline(title) if title is not None and title.parent is node
                     else admonitionlabels.get(node.tagname, node.tagname.title()))
            body = self.children(node, skip=nodes.title)
            return "\n".join(f"> {line}".rstrip() for line in f"**{label}**\n\n{body}".split("\n"))
        if isinstance(node, nodes.figure):
            return f"{self.image(node.next_node(nodes.image))}\n\n{self.caption(node)}".strip()
        if isinstance(node, nodes.image):
            return self.image(node)
        if isinstance(node, (nodes.container, nodes.compound)):
            return self.children(node)
        raise ReaderNotebookError(f"{self.docname}: no Markdown for <{node.tagname}> "
                                  f"{node.astext()[:60]!r}")

    def children(self, node: nodes.Element, skip: type | None = None) -> str:
        return "\n\n".join(self.render(c) for c in node.children
                           if isinstance(c, nodes.Element) and not isinstance(c, SKIP)
                           and not (skip and isinstance(c, skip)))

    def image(self, node: nodes.Element) -> str:
        path = Path(self.app.srcdir) / Path(self.docname).parent / node["uri"]
        if not path.is_file():
            path = Path(self.app.srcdir) / node["uri"]
        return f"![{escape(node.get('alt', ''))}]({data_uri(path.resolve())})"

    # --- inline ----------------------------------------------------------------
    def inline(self, node: nodes.Node) -> str:
        if isinstance(node, nodes.Text):
            return escape(str(node)).replace("\n", " ")
        if isinstance(node, SKIP):
            return ""
        text = "".join(self.inline(c) for c in node.children)
        if isinstance(node, nodes.math):
            return f"${node.astext()}$"
        if isinstance(node, nodes.literal):
            fence = "``" if "`" in node.astext() else "`"
            return f"{fence}{node.astext()}{fence}"
        if isinstance(node, nodes.emphasis):
            return f"*{text}*"
        if isinstance(node, nodes.strong):
            return f"**{text}**"
        if isinstance(node, nodes.subscript):
            return f"<sub>{text}</sub>"
        if isinstance(node, nodes.superscript):
            return f"<sup>{text}</sup>"
        if isinstance(node, nodes.reference):
            return self.link(node, text)
        if isinstance(node, (nodes.inline, nodes.TextElement)):
            return text
        raise ReaderNotebookError(f"{self.docname}: no Markdown for inline <{node.tagname}>")

    def link(self, node: nodes.Element, text: str) -> str:
        uri = node.get("refuri", "")
        if node.get("reftitle") and "bibliography" in uri:  # a citation
            self.references[uri] = node["reftitle"]
            return text
        if not node.get("internal") and uri.startswith(("http://", "https://")):
            return f"[{text}]({uri})"
        page = uri.split("#")[0].removesuffix(".html")
        if page and (Path(self.app.srcdir) / Path(self.docname).parent / f"{page}.ipynb").is_file():
            return f"[{text}]({page}.ipynb)"  # another reader notebook, beside this one
        return text  # a term, a label on this page, or a page that is no notebook

    def convert(self, doctree: nodes.document) -> nbformat.NotebookNode:
        self.walk(doctree)
        self.flush()
        if self.references:
            entries = "\n".join(f"- {escape(e)}" for e in sorted(set(self.references.values())))
            self.cells.append(nbformat.v4.new_markdown_cell(
                f"## {self.words['references']}\n\n{entries}"))
        reader = nbformat.v4.new_notebook(metadata=copy.deepcopy(self.nb.metadata),
                                          cells=self.cells)
        reader.metadata["reader_notebook"] = {"source": f"{self.docname}.ipynb",
                                              "generator": "book/_ext/reader_notebooks.py"}
        for i, cell in enumerate(reader.cells):  # stable ids: the copies diff well
            cell.id = cell.get("id") if cell.cell_type == "code" else f"reader-{i}"
        return reader


def edition(app: Any) -> str:
    return "zh" if (app.config.language or "en").startswith("zh") else "en"


def head_commit(app: Any) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=app.srcdir, capture_output=True,
                          text=True, check=True).stdout.strip()


def write_copy(app: Any, doctree: nodes.document, docname: str) -> None:
    source = Path(app.env.doc2path(docname))
    if source.suffix != ".ipynb":
        return
    nb = nbformat.read(source, as_version=4)
    reader = Page(app, docname, nb, WORDS[edition(app)]).convert(doctree)
    # The committed setup cells install pr_utils from the branch; a copy pins the commit
    # it is made from, whose pr_utils made (and CI checked) its outputs.
    commit = head_commit(app)
    for cell in reader.cells:
        if cell.cell_type == "code":
            cell.source = PIN.sub(lambda m: f'{m[1]}@{commit}"', cell.source)
    nbformat.validate(reader)
    target = Path(app.outdir) / OUT / f"{docname}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(nbformat.writes(reader).rstrip("\n") + "\n", encoding="utf-8")


BINDER = """\
# Binder's image for the reader-ready notebooks (written by book/_ext/reader_notebooks.py).
# PyTorch's CPU build: Binder has no GPU, and the default wheel pulls gigabytes of CUDA.
--extra-index-url https://download.pytorch.org/whl/cpu
torch
pr-utils @ git+{url}@{commit}
"""
README = """\
# Reader-ready notebooks

Generated by `make book` from the `{branch}` branch at commit {commit}: do not edit
here. The Colab, Binder and JupyterHub buttons of the book's site open these copies
(English in book/, Chinese in zh/book/), in which the book's MyST markup is plain
Markdown and solutions are folded.
"""


def publish(app: Any, exception: Exception | None) -> None:
    """The download button serves the copies; the English build adds binder/ and a README."""
    out = Path(app.outdir) / OUT
    if exception is not None or app.builder.name != "html" or not out.is_dir():
        return
    for copy_ in out.rglob("*.ipynb"):
        source = Path(app.outdir) / "_sources" / copy_.relative_to(out)
        if source.is_file():
            source.write_bytes(copy_.read_bytes())
    if edition(app) == "en":
        commit, options = head_commit(app), app.config.html_theme_options or {}
        (out / "binder").mkdir(exist_ok=True)
        (out / "binder" / "requirements.txt").write_text(
            BINDER.format(url=options.get("repository_url", ""), commit=commit), encoding="utf-8")
        (out / "README.md").write_text(README.format(
            branch=options.get("repository_branch", "main"), commit=commit), encoding="utf-8")


def setup(app: Any) -> dict[str, Any]:
    app.connect("doctree-resolved", lambda app, doctree, docname: (
        write_copy(app, doctree, docname) if app.builder.name == "html" else None))
    app.connect("build-finished", publish)
    return {"parallel_read_safe": True, "parallel_write_safe": False}
