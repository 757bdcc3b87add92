"""The reader-ready notebooks that `make book` writes (book/_ext/reader_notebooks.py) from
each page as Sphinx resolved it, read from the built site."""

import html
import re
import time
from pathlib import Path

import nbformat
import pytest
from common import CJK, SITE, built
from docutils import nodes
from docutils.utils import new_document
from nbclient import NotebookClient
from reader_notebooks import RECORD, Page, ReaderNotebookError, escape

from tools.notebooks import BUDGET_S, book_notebooks, code_cells, head_commit, setup_cell_source

NOTEBOOKS = book_notebooks()
BRANCH = SITE / "_notebooks"  # pushed as is to the reader-notebooks branch
EDITIONS = {"en": (BRANCH / "book", SITE / "book"),  # (the copies, the pages)
            "zh": (BRANCH / "zh" / "book", SITE / "zh" / "book")}
EXERCISE = {"en": r"^\*\*Exercise (\d+)\*\*", "zh": r"^\*\*练习 (\d+)\*\*"}
RAW_MYST = re.compile(r"\{[a-zA-Z][\w:.-]*\}`|^\s*(`{3,}|:{3,})\s*\{|^\([\w.:-]+\)=\s*$", re.M)
PASTED = re.compile(r'<span class="pasted-text">(.*?)</span>', re.S)


@pytest.mark.site
@pytest.mark.parametrize("edition", EDITIONS)
@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_copy_says_what_the_page_says_with_the_books_code(edition: str, source: Path) -> None:
    copies, pages = EDITIONS[edition]
    nb = nbformat.read(built(copies / source.name), as_version=4)
    nbformat.validate(nb)
    text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert not RAW_MYST.findall(text), RAW_MYST.findall(text)[:5]
    page = (pages / source.with_suffix(".html").name).read_text(encoding="utf-8")
    for value in PASTED.findall(page):  # every glued value the page shows
        assert html.unescape(re.sub(r"<[^>]+>", "", value)) in text.replace("\\", ""), value
    # exercises and figures carry the page's numbers; every solution is folded
    numbered = re.findall(r'caption-number">(\S+) (\d+) <', page)
    exercises = [n for k, n in numbered if k in {"Exercise", "练习"}]
    assert re.findall(EXERCISE[edition], text, re.M) == exercises
    figures = re.findall(r"^\*(?:Figure|图) (\d+): ", text, re.M)  # (a solution's are folded)
    assert figures == [n for k, n in numbered if k in {"Fig.", "图"} and n in figures]
    assert len(figures) >= len([n for k, n in numbered if k in {"Fig.", "图"}]) - len(exercises)
    assert text.count("<summary>") >= text.count("**Exercise") + text.count("**练习")
    assert text.count("<details>") == text.count("</details>")
    if edition == "zh":
        prose = re.sub(r"\$[^$]*\$|`[^`]*`|\(data:[^)]*\)|\([\w.]+\.ipynb\)", "", text)
        assert len(CJK.findall(prose)) > len(re.findall(r"[A-Za-z]", prose)), "mostly Chinese"
        assert "Solution to Exercise" not in text and "**Exercise" not in text
        assert len(re.findall(r"^#+ 小结|^\*\*小结", text, re.M)) <= 1, "the summary once"
    else:
        assert "Solution to Exercise" in text or "**Exercise" not in text
    original, code = code_cells(nbformat.read(source, as_version=4)), code_cells(nb)
    # the copy pins the commit it is made from, whose pr_utils made the outputs
    assert code[0].source == setup_cell_source(head_commit()), "setup cell pinned"
    for before, after in zip(original[1:], code[1:], strict=True):
        if after.metadata.get("cellView") == "form":  # a folded solution
            title, _, body = after.source.partition("\n")
            assert re.fullmatch(r'# @title .+ \{ display-mode: "form" \}', title)
            assert body == before.source and after.metadata["jupyter"]["source_hidden"] is True
            assert after.outputs == [], "a folded solution gives no answer away"
        else:
            assert after.source == before.source
            assert after.outputs == [o for o in before.outputs
                                     if not any(k.startswith(RECORD) for k in o.get("data", {}))]
    for before, after in zip(nb.cells, nb.cells[1:], strict=False):  # caption under figure
        if "figure" in before.metadata.get("mystnb", {}) and before.get("outputs"):
            assert re.match(r"\*(Figure|图) \d+: ", after.source), after.source[:40]


@pytest.mark.site
def test_branch_layout_and_download_button() -> None:
    # _notebooks/ is the reader-notebooks branch: book/ and zh/book/ as in the repository
    # (editions.py only swaps the branch), Binder's config and a README.
    for site, (copies, _) in zip((SITE, SITE / "zh"), EDITIONS.values(), strict=True):
        assert sorted(p.name for p in copies.glob("*.ipynb")) == sorted(p.name for p in NOTEBOOKS)
        served = site / "_sources" / "book" / "how_to_use.ipynb"
        assert served.read_bytes() == (copies / "how_to_use.ipynb").read_bytes()
    requirements = (BRANCH / "binder" / "requirements.txt").read_text(encoding="utf-8")
    assert f"@{head_commit()}" in requirements, "Binder installs the pinned pr_utils"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert (BRANCH / "README.md").is_file()


@pytest.mark.site
def test_reader_notebook_runs_top_to_bottom(tmp_path: Path) -> None:
    """The cheapest page, executed as a reader would: a fresh kernel, another folder."""
    nb = nbformat.read(built(EDITIONS["en"][0] / "how_to_use.ipynb"), as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, kernel_name="python3", timeout=BUDGET_S,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert time.perf_counter() - start < BUDGET_S
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]


def test_a_node_without_markdown_is_an_error_and_markdown_characters_are_escaped() -> None:
    """A construct the converter does not know stops the build instead of vanishing."""
    document = new_document("page")
    document += nodes.table("", nodes.tgroup())
    page = Page(app=None, docname="book/page", nb=nbformat.v4.new_notebook(), words={})
    with pytest.raises(ReaderNotebookError, match="no Markdown for <table>"):
        page.convert(document)
    assert escape("a_b * $5 <x>") == r"a\_b \* \$5 &lt;x>"
