"""The reader-ready notebooks that `make book` publishes for Colab, Jupyter and download.

They are generated from the committed notebooks alone (no site build), so these
tests generate them into a temporary folder: no raw MyST is left, glued numbers
appear as text, solutions are folded, the code is the book's code, and one copy
runs top to bottom in a fresh kernel from a folder that is not the book's.
"""

from __future__ import annotations

import base64
import itertools
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tools.notebooks import BUDGET_S, book_notebooks, head_commit, setup_cell_source
from tools.reader_notebooks import (
    RAW_DIRECTIVE,
    RAW_ROLE,
    ReaderNotebookError,
    convert,
    format_glued_text,
    generate,
    glued,
    latex_to_text,
    main,
    raw_myst,
    read_bibliography,
    translate_markdown,
)

NOTEBOOKS = book_notebooks()
GLUE_ROLE = re.compile(r"\{glue(?::text)?\}`(?P<key>[^`:]+)(?::(?P<spec>[^`]*))?`")


@pytest.fixture(scope="module")
def reader_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reader")
    written = generate(out)
    assert sorted(p.name for p in written) == sorted(p.name for p in NOTEBOOKS)
    return out


def markdown(nb: nbformat.NotebookNode) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_raw_myst_is_left(source: Path, reader_dir: Path) -> None:
    nb = read(reader_dir / source.name)
    text = markdown(nb)
    assert not RAW_ROLE.findall(text), RAW_ROLE.findall(text)[:5]
    assert not RAW_DIRECTIVE.findall(text), RAW_DIRECTIVE.findall(text)[:5]
    assert not re.search(r"^:(class|label|name):", text, re.M), "directive options left"
    assert not re.search(r"^\([\w.:-]+\)=\s*$", text, re.M), "MyST targets left"
    assert raw_myst(nb) == []
    nbformat.validate(nb)


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_glued_numbers_appear_as_text(source: Path, reader_dir: Path) -> None:
    original = read(source)
    values = glued(original)
    text = markdown(read(reader_dir / source.name))
    roles = [m for c in original.cells if c.cell_type == "markdown"
             for m in GLUE_ROLE.finditer(c.source)]
    for m in roles:
        expected = format_glued_text(values[m["key"]]["text/plain"], m["spec"] or "")
        assert expected in text, f"{m.group(0)} -> {expected!r} missing"
    # and the outputs that only carried glued values to the site are gone
    reader = read(reader_dir / source.name)
    assert not glued(reader)


def test_glued_number_in_context(reader_dir: Path) -> None:
    values = glued(read(nbformat_path("how_to_use")))
    mean = float(values["sample_mean"]["text/plain"])
    text = markdown(read(reader_dir / "how_to_use.ipynb"))
    assert f"The sample mean is\n{mean:.3f} and" in text


def nbformat_path(stem: str) -> Path:
    return next(p for p in NOTEBOOKS if p.stem == stem)


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_numbered_and_solutions_folded(source: Path, reader_dir: Path) -> None:
    original = read(source)
    n_exercises = sum(c.source.count("{exercise}") for c in original.cells
                      if c.cell_type == "markdown")
    reader = read(reader_dir / source.name)
    text = markdown(reader)
    assert re.findall(r"^\*\*Exercise (\d+)\*\*", text, re.M) == [
        str(i) for i in range(1, n_exercises + 1)]
    for cell in reader.cells:
        if cell.cell_type == "markdown" and "Solution to Exercise" in cell.source:
            # every solution's text sits inside a <details> block that opens and closes
            assert cell.source.count("<details>") == cell.source.count("</details>") >= 1
            # (text after a gated solution's code cells continues it in a block of its own)
            assert re.search(r"<summary>Solution to Exercise \d+( \(continued\))?</summary>\n\n",
                             cell.source)
    summaries = re.findall(r"<summary>Solution to Exercise (\d+)</summary>", text)
    n_solutions = sum(c.source.count("{solution}") + c.source.count("{solution-start}")
                      for c in original.cells if c.cell_type == "markdown")
    assert len(summaries) == n_solutions


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_is_the_books_code(source: Path, reader_dir: Path) -> None:
    original = [c for c in read(source).cells if c.cell_type == "code"]
    reader = [c for c in read(reader_dir / source.name).cells if c.cell_type == "code"]
    # The committed cell installs from the branch; the published copy pins the commit
    # it is made from, whose pr_utils made the outputs.
    assert original[0].source == setup_cell_source()
    assert reader[0].source == setup_cell_source(head_commit()), "setup cell pinned"
    assert len(reader) == len(original)
    for before, after in zip(original[1:], reader[1:], strict=True):
        if after.metadata.get("cellView") == "form":  # a folded solution
            title, _, code = after.source.partition("\n")
            assert re.fullmatch(
                r'# @title Solution to Exercise \d+ \(code\) \{ display-mode: "form" \}', title)
            assert code == before.source
            assert after.metadata["jupyter"]["source_hidden"] is True
            assert after.outputs == [], "a folded solution gives no answer away"
        else:
            assert after.source == before.source


def test_gated_solution_code_is_folded(reader_dir: Path) -> None:
    cells = read(reader_dir / "how_to_use.ipynb").cells
    folded = [c for c in cells if c.metadata.get("cellView") == "form"]
    assert len(folded) == 2  # the two code cells between solution-start and solution-end
    note = next(c for c in cells if "<summary>Solution to Exercise 1</summary>" in c.source)
    assert "the next 2 code cells" in note.source


def test_site_mode_replaces_the_download_button_notebooks(tmp_path: Path) -> None:
    sources = tmp_path / "_sources" / "book"
    sources.mkdir(parents=True)
    (sources / "how_to_use.ipynb").write_text("{}", encoding="utf-8")
    assert main(["--site", str(tmp_path), str(nbformat_path("how_to_use"))]) == 0
    published = tmp_path / "_notebooks" / "book" / "how_to_use.ipynb"
    assert published.read_bytes() == (sources / "how_to_use.ipynb").read_bytes()
    assert read(published).metadata["reader_notebook"]["source"] == "book/how_to_use.ipynb"


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_figure_captions_follow_their_figures(source: Path, reader_dir: Path) -> None:
    cells = read(reader_dir / source.name).cells
    # Figures still shown (a folded solution's outputs are removed, with its caption).
    captions = [c for c in cells if c.cell_type == "code"
                and "figure" in c.metadata.get("mystnb", {})
                and any("image/png" in o.get("data", {}) for o in c.outputs)]
    shown = [b.source for a, b in itertools.pairwise(cells)
             if a.cell_type == "code" and b.source.startswith("*Figure: ")]
    assert len(shown) == len(captions), "every captioned figure has its caption under it"


Coverage = dict[str, tuple[int, int]]


@pytest.fixture(scope="module")
def chinese_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Coverage]:
    out = tmp_path_factory.mktemp("reader-zh")
    coverage: Coverage = {}
    generate(out, language="zh", coverage=coverage)
    return out, coverage


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_chinese_reader_notebooks_are_translated_and_plain(
        source: Path, chinese_dir: tuple[Path, Coverage]) -> None:
    out, coverage = chinese_dir
    nb = read(out / source.name)
    assert not raw_myst(nb)
    done, total = coverage[source.stem]
    # Every paragraph, heading, list item and caption that the catalogue translates
    # is found in the notebook (the catalogue completeness is test_i18n's).
    assert total > 0 and done == total, f"{total - done} of {total} blocks left in English"
    text = markdown(nb)
    assert "Solution to Exercise" not in text and "**Exercise" not in text
    assert "**小结" not in text and len(re.findall(r"^#+ 小结", text, re.M)) <= 1, "summary twice"
    n_exercises = sum(c.source.count("{exercise}") for c in read(source).cells
                      if c.cell_type == "markdown")
    assert text.count("**练习 ") == n_exercises
    original = [c.source for c in read(source).cells if c.cell_type == "code"]
    reader = [c for c in nb.cells if c.cell_type == "code"]
    assert reader[0].source == setup_cell_source(head_commit()), "the setup cell first, pinned"
    assert len(reader) == len(original), "the code is shared"


def test_translate_markdown_keeps_code_and_maths() -> None:
    source = ("## Title\n\nA paragraph\nover two lines.\n\n- an item\n  continued\n"
              "- other\n\n$$\nx = 1\n$$\n\n```python\nprint('A paragraph')\n```")
    lookup = {"Title": "标题", "A paragraph over two lines.": "一段话。",
              "an item continued": "一项", "x = 1": "错"}
    text, done, total = translate_markdown(source, lookup)
    assert text == ("## 标题\n\n一段话。\n\n- 一项\n- other\n\n$$\nx = 1\n$$\n\n"
                    "```python\nprint('A paragraph')\n```")
    assert (done, total) == (3, 4)


def test_site_mode_lays_out_the_branch_the_launch_buttons_open(tmp_path: Path) -> None:
    """_notebooks/ is pushed as is to the reader-notebooks branch: book/<page>.ipynb as in
    the repository (book/_ext/editions.py only swaps the branch), and Binder's config."""
    assert main(["--site", str(tmp_path), str(nbformat_path("how_to_use"))]) == 0
    branch = tmp_path / "_notebooks"
    assert (branch / "book" / "how_to_use.ipynb").is_file()
    assert not list(branch.glob("*.ipynb")), "notebooks belong in book/, as in the repository"
    requirements = (branch / "binder" / "requirements.txt").read_text(encoding="utf-8")
    assert f"@{head_commit()}" in requirements, "Binder installs the pinned pr_utils"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert "README.md" in {p.name for p in branch.iterdir()}
    assert (branch / "zh" / "book" / "how_to_use.ipynb").is_file(), "the Chinese copies"


def test_reader_notebook_runs_top_to_bottom(reader_dir: Path, tmp_path: Path) -> None:
    """The cheapest page, executed as a reader would: a fresh kernel, another folder."""
    nb = read(reader_dir / "how_to_use.ipynb")
    client = NotebookClient(nb, kernel_name="python3", timeout=BUDGET_S,
                            resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    assert seconds < BUDGET_S, f"{seconds:.0f} s"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors


# ---------------------------------------------------------------------------
# The conversion on small notebooks: every construct the book may use


def glue_cell(name: str, value: str) -> nbformat.NotebookNode:
    cell = new_code_cell(f"glue({name!r}, {value}, display=False)")
    cell.outputs = [new_output(
        "display_data", data={"application/papermill.record/text/plain": value},
        metadata={"scrapbook": {"mime_prefix": "application/papermill.record/",
                                "name": name}})]
    return cell


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake").decode("ascii")
BIB = """@article{doe2020x,
  author = {Doe, Jane and M{\\"u}ller, Hans},
  title  = {A {T}itle},
  journal = {J. Tests},
  year   = {2020}
}
@book{roe1999y,
  author = {Roe, R. and Poe, P. and Zoe, Z.},
  title = {Book},
  publisher = {Press},
  year = 1999
}
"""


def small(*cells: nbformat.NotebookNode, tmp_path: Path) -> nbformat.NotebookNode:
    bib = tmp_path / "refs.bib"
    bib.write_text(BIB, encoding="utf-8")
    nb = new_notebook(cells=list(cells))
    return convert(nb, "small", bibliography=read_bibliography(bib),
                   titles={"other": "2.1 Other page"}, base=tmp_path)


def test_roles_become_plain_text(tmp_path: Path) -> None:
    nb = small(
        glue_cell("acc", "0.91234"), glue_cell("n", "1200"),
        new_markdown_cell(
            "Accuracy {glue:text}`acc:.2f` ({glue:text}`acc:.0%`) on {glue:text}`n:,d` "
            "points, {glue}`n`. A {term}`kernel` and a {term}`GP <Gaussian process>`; "
            "see {cite}`doe2020x`, {cite:p}`doe2020x,roe1999y` and {cite:t}`roe1999y`; "
            "{math}`x^2`; {doc}`other`, {doc}`that page <other>`."),
        tmp_path=tmp_path)
    text = nb.cells[2].source
    assert text == (
        "Accuracy 0.91 (91%) on 1,200 points, 1200. A kernel and a GP; "
        "see (Doe and Müller, 2020), (Doe and Müller, 2020; Roe et al., 1999) and "
        "Roe et al. (1999); $x^2$; [2.1 Other page](other.ipynb), [that page](other.ipynb).")
    refs = nb.cells[-1].source
    assert refs.startswith("## References")
    assert "Jane Doe and Hans Müller (2020). *A Title*. J. Tests." in refs
    assert "R. Roe, P. Poe and Z. Zoe (1999). *Book*. Press." in refs
    assert [c.outputs for c in nb.cells[:2]] == [[], []], "glue-only outputs dropped"


def test_directives_become_markdown(tmp_path: Path) -> None:
    (tmp_path / "fig.png").write_bytes(base64.b64decode(PNG))
    fig = glue_cell("fig", "'<Figure>'")
    fig.outputs[0].data["application/papermill.record/image/png"] = PNG
    nb = small(
        fig,
        new_markdown_cell(
            "(sec-x)=\n# Title\n\n```{note}\nA $note$ with {term}`term`.\n```\n\n"
            "```{admonition} Careful\n:class: warning\nBody.\n```\n\n"
            "```{figure} fig.png\n:name: fig-x\n\nA caption.\n```\n\n"
            "```{glue:figure} fig\n:name: fig-g\n\nGlued caption.\n```\n\n"
            "```{math}\na = b\n```\n\n"
            ":::{tab-set}\nInside.\n:::\n\n% a comment\n+++\n```python\nx = {1}\n```"),
        tmp_path=tmp_path)
    text = nb.cells[1].source
    assert text.startswith("# Title\n\n> **Note**\n>\n> A $note$ with term.")
    assert "> **Careful**\n>\n> Body." in text
    assert f"![A caption.](data:image/png;base64,{PNG})\n\n*A caption.*" in text
    assert f"![fig](data:image/png;base64,{PNG})\n\n*Glued caption.*" in text
    assert "$$\na = b\n$$" in text
    assert "> **Tab set**\n>\n> Inside." in text
    assert "comment" not in text and "+++" not in text
    assert text.endswith("```python\nx = {1}\n```"), "code blocks are copied as they are"


def test_exercises_and_gated_solutions(tmp_path: Path) -> None:
    nb = small(
        new_markdown_cell("```{exercise}\n:label: ex-a\n\nFirst?\n```\n\n"
                          "```{solution} ex-a\n:class: dropdown\n\nYes, see {ref}`ex-b`.\n```"),
        new_markdown_cell("```{exercise} A title\n:label: ex-b\n\nSecond?\n```\n\n"
                          "```{solution-start} ex-b\n:class: dropdown\n```\nText part."),
        new_code_cell("x = 2"),
        new_markdown_cell("```{solution-end}\n```"),
        new_code_cell("y = 3"),
        tmp_path=tmp_path)
    assert [c.cell_type for c in nb.cells] == ["markdown", "markdown", "code", "code"]
    first, second, solution, after = nb.cells
    assert first.source == (
        "**Exercise 1**\n\nFirst?\n\n<details>\n<summary>Solution to Exercise 1</summary>"
        "\n\nYes, see Exercise 2.\n\n</details>")
    assert second.source.startswith(
        "**Exercise 2** (A title)\n\nSecond?\n\n<details>\n"
        "<summary>Solution to Exercise 2</summary>\n\nText part.")
    assert "the next code cell, folded" in second.source
    assert solution.source == (
        '# @title Solution to Exercise 2 (code) { display-mode: "form" }\nx = 2')
    assert solution.metadata["cellView"] == "form"
    assert after.source == "y = 3" and "cellView" not in after.metadata


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{glue:text}`missing:.2f`", "no glued value named 'missing'"),
        ("{cite}`nobody2000`", "citation 'nobody2000'"),
        ("{glue:text}`other::key`", "another document"),
        ("```{solution} ex-none\nText\n```", "unknown exercise 'ex-none'"),
        ("```{exercise}\n:label: ex-a\nQ\n```\n```{solution-start} ex-a\n```\nOpen",
         "no {solution-end}"),
        ("```{figure} nowhere.png\n```", "figure file 'nowhere.png' not found"),
    ],
)
def test_unresolvable_myst_is_an_error(source: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ReaderNotebookError, match=re.escape(message)):
        small(new_markdown_cell(source), tmp_path=tmp_path)


def test_the_input_notebook_is_left_unchanged(tmp_path: Path) -> None:
    cell = new_markdown_cell("{term}`kernel`")
    nb = new_notebook(cells=[cell])
    convert(nb, "x", base=tmp_path)
    assert nb.cells[0].source == "{term}`kernel`"


@pytest.mark.parametrize(
    ("text", "spec", "expected"),
    [("0.006312", ".3f", "0.006"), ("3", "", "3"), ("0.5", ".0%", "50%"),
     ("1234567.0", ",.0f", "1,234,567"), ("'a string'", "", "a string"),
     ("2.4e-09", ".0e", "2e-09")],
)
def test_format_glued_text_matches_myst_nb(text: str, spec: str, expected: str) -> None:
    assert format_glued_text(text, spec) == expected
    from myst_nb.core.variables import format_plain_text  # type: ignore[import-untyped]
    assert format_plain_text(text, spec) == expected


def test_latex_to_text() -> None:
    text = latex_to_text(r"Fusi, Nicol{\`o} and L{\'e}on {GPU}s--fast")
    assert text == "Fusi, Nicolò and Léon GPUs–fast"
