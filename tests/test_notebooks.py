"""House rules for every notebook in book/, checked on the committed files: what nbval,
which re-runs them, does not check (that they were executed and stored cleanly, and that
they follow the book's conventions)."""

import ast
import copy
import os
import re

import nbformat
import pytest

from tools import ROOT
from tools.notebooks import book_notebooks, clean, code_cells, problems, setup_cell_source

NOTEBOOKS = {path.name: nbformat.read(path, as_version=4) for path in book_notebooks()}
RECORD = "application/papermill.record/"  # glued values
params = pytest.mark.parametrize("name", NOTEBOOKS)


def ignored(cell: nbformat.NotebookNode) -> bool:
    return bool(cell.source.lstrip().startswith("# NBVAL_IGNORE_OUTPUT"))


def test_the_book_has_notebooks() -> None:
    assert NOTEBOOKS, "no notebooks found under book/"


@params
def test_clean_metadata_executed_in_order_seeded_and_device_agnostic(name: str) -> None:
    nb = NOTEBOOKS[name]
    cells = code_cells(nb)
    assert cells[0].source == setup_cell_source(), "run `make stamp` to write the setup cell"
    assert cells[0].metadata.get("tags") == ["hide-input"], "folded on the site"
    # The plain kernelspec, no interpreter version, timestamps or editor state; a notebook
    # that calls get_device() asks Colab for a GPU (tests/test_tools: what clean() writes).
    assert clean(copy.deepcopy(nb)) == nb, "regenerate the metadata with `make execute`"
    assert all(c.source.strip() for c in cells), "an empty code cell shows readers nothing"
    counts = [c.execution_count for c in cells]
    assert None not in counts, "unexecuted cells are not compared by nbval"
    assert counts == list(range(counts[0], counts[0] + len(counts))), "executed out of order"
    code = "\n".join(c.source for c in cells)
    assert "seed_everything(" in code
    assert not re.search(r"""torch\.device\(\s*["']cuda""", code), "use pr_utils.get_device()"
    assert ".cuda()" not in code, "use .to(device)"


@params
def test_stored_outputs_are_comparable_and_clean(name: str) -> None:
    assert not problems(NOTEBOOKS[name]), "an error or a warning is stored"
    machine_paths = [str(ROOT), os.path.expanduser("~"), "site-packages"]
    for i, cell in enumerate(code_cells(NOTEBOOKS[name])):
        for out in cell.outputs:
            where, data = f"code cell {i}", out.get("data", {})
            # nbval compares SVG and HTML as text, which changes between versions; not the
            # HTML of pr_utils.explore's figures, whose data are rounded to fixed digits
            assert "image/svg+xml" not in data, f"{where}: keep figures PNG"
            html = "".join(data.get("text/html", ""))
            assert ignored(cell) or not html or 'class="pr-explore"' in html, f"{where}: HTML repr"
            text = out.get("text", "") + data.get("text/plain", "")
            assert not [p for p in machine_paths if p in text], f"{where}: shows a machine path"
            # The site shows stderr as a pink box, also in ignored cells. Progress bars are
            # the usual source: the executors set PR_UTILS_PROGRESS=0 (pr_utils.runtime).
            assert out.get("name") != "stderr", (
                f"{where} stores stderr; silence it, then `make execute NB=book/{name}`")
            assert "application/vnd.jupyter.widget-view+json" not in data, (
                f"{where} stores a widget (a progress bar?); re-run with `make execute`")
            # myst-nb formats a glued number from its repr: np.float64(...) is a raw value
            glued = {k: str(v) for k, v in data.items() if k.startswith(RECORD)}
            assert not [v for v in glued.values() if "np." in v], f"{where}: glue a float()"
            # A float glued at full precision is compared to its last digit, which another
            # BLAS, NumPy or thread count moves: glue it rounded (a little more than shown)
            value = glued.get(RECORD + "text/plain", "")
            if not ignored(cell) and re.fullmatch(r"-?[\d.]+(e[-+]?\d+)?", value):
                assert significant_digits(value) <= 6, f"{where}: glue round(x, k), not {value}"


def significant_digits(text: str) -> int:
    return len(re.sub(r"\D", "", text.lower().split("e")[0]).lstrip("0"))


def bound_names(code: str) -> set[str]:
    """Names a cell assigns, defines, imports or mutates (``x[...] = ``, ``x.a = ``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(getattr(node, "ctx", None), ast.Store):
            base = node
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            names.update([base.id] if isinstance(base, ast.Name) else [])
    return names


def names_read(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def checked_names(code: str, made: set[str]) -> set[str]:
    """The names of ``made``, or assigned from them (``x = f(made)``, to a fixpoint), that the
    ``assert`` statements of a cell read; none of a vacuous one, which holds whatever was
    computed: ``x in {"cpu", "cuda"}``, checked against every value it can take."""
    tree, names, size = ast.parse(code), set(made), -1
    assigns = [n for n in ast.walk(tree)
               if isinstance(n, ast.Assign | ast.AnnAssign | ast.AugAssign) and n.value]
    while size != len(names):
        size = len(names)
        for n in (n for n in assigns if names_read(n.value) & names):
            names |= names_read(ast.Tuple(n.targets if isinstance(n, ast.Assign) else [n.target]))
    tests = [n.test for n in ast.walk(tree) if isinstance(n, ast.Assert)]
    return {name for t in tests if not (
        isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.In)
        and isinstance(t.comparators[0], ast.Set | ast.Tuple | ast.List)
        and all(isinstance(e, ast.Constant) for e in t.comparators[0].elts))
        for name in names_read(t) & names}


@params
def test_ignored_outputs_are_followed_by_an_assertion_about_them(name: str) -> None:
    cells = code_cells(NOTEBOOKS[name])
    for i, cell in enumerate(cells):
        if ignored(cell):
            following = cells[i + 1].source if i + 1 < len(cells) else ""
            made = bound_names(cell.source)
            assert checked_names(following, made), (
                f"code cell {i} ignores its output, but the next cell asserts nothing about "
                f"what it computed (names bound there: {sorted(made)})")


# Numbers typed into prose. A result in the text comes from code (a glue role, a
# printed output), so the next run, on any machine, shows the number it measured.
# What is left of a page's Markdown once roles, maths, code, links and headings are
# taken out must hold no decimal, percentage or multiple ("12×", "8 times faster")
# unless it is a fact no run produces: each such phrase is listed here, with why.
ALLOWED_PHRASES = {
    "95%": "the level of a prediction band or interval: a definition, not a result",
    "40%": "the lecture's own figure for MICCAI papers on segmentation, quoted as its claim",
    "scikit-learn 1.9": "a library's version (1.1 says which releases divide by n)",
    "(1.3, for one)": "a library's version, likewise",
    "correlated at 0.99, next neighbours at 0.98": "the lecture's covariance matrix, quoted",
    "0.5 × 0.5 mm": "the pixel size an exercise (3.2) gives, worked by hand in its solution",
    "(0.5 mm)": "the same exercise's given size",
}
UNTYPED = [re.compile(p, re.S | re.M) for p in (
    r"^```[ \t]*[\w-]+[^\n]*\n.*?^```[ \t]*$",  # code blocks (```python ...)
    r"^[ \t]*(?:`{3,}|:{3,}).*?$|^:[\w-]+:.*?$",  # directive fences and options; their prose stays
    r"\{[\w:-]+\}`[^`]*`",        # roles: {glue:text}`...`, {cite}`...`, {doc}`...`, {term}`...`
    r"\$\$.*?\$\$|\$[^$\n]*\$",    # maths
    r"`[^`\n]*`",                 # inline code
    r"\]\([^)]*\)|<[^>\n]*>",      # link targets and HTML tags
    r"^[ \t]*#[^\n]*$",            # headings (section numbers)
    # cross-references: "page 3.4", "3.5 节"
    r"\b(?:[Pp]ages?|[Cc]hapters?|[Ss]ections?)\s+\d+(?:\.\d+)*(?:(?:,\s*|\s+and\s+|\s+or\s+)"
    r"\d+(?:\.\d+)*)*|\d+(?:\.\d+)*\s*节",
)] + [re.compile(re.escape(phrase)) for phrase in ALLOWED_PHRASES]
TYPED_NUMBER = re.compile(
    r"(?<![\w.])\d+(?:\.\d+)?\s?%"                           # 0.27 %, 40%
    r"|(?<![\w.])\d+(?:\.\d+)?\s?×(?!\s?\d)"                  # 12× (not 3×3, a size)
    r"|(?<![\w.])\d+(?:\.\d+)?\s+times\s+(?:faster|slower|more|less|larger|smaller|as)\b"
    r"|(?<![\w.])\d+\.\d+(?!\w|\.\d)"                        # 0.924, also ending a sentence
)


def typed_numbers(text: str) -> list[str]:
    """The hand-typed numbers in one Markdown cell, each with a little context."""
    for pattern in UNTYPED:  # then ALLOWED_PHRASES
        text = pattern.sub(" ", text)
    return [text[max(0, m.start() - 30):m.end() + 10].strip() for m in TYPED_NUMBER.finditer(text)]


def test_the_helpers_of_these_rules_find_what_they_should() -> None:
    ignored_cell = "a, b = f()\nc[0] = 1\nd.x = 2\nfor e in []: pass\nimport numpy as np"
    assert bound_names(ignored_cell) == {"a", "b", "c", "d", "e", "np"}
    assert checked_names("x = 1\nassert a > y, 'msg'\nprint(b)", set("abxy")) == {"a", "y"}
    assert checked_names('assert d in {"cpu", "cuda"}', {"d"}) == set()
    assert checked_names('assert d == ("cuda" if cuda() else "cpu")', {"d", "cuda"}) == {
        "d", "cuda"}
    code = "u = a + 1\nv, w = g(u)\nz = 3\nassert u and v and w and z and a"
    assert checked_names(code, {"a"}) == {"a", "u", "v", "w"}
    assert [significant_digits(t) for t in ("2.804879774583836", "0.002709", "1.5e-07")] == [
        16, 4, 2]
    for text in ["The U-Net reaches a Dice of 0.924 on the test slices.", "Dice 0.93.",
                 "It fails for about 0.27 % of seeds.", "The GPU is 12× faster.", "*12.5* ppm",
                 "it is 8 times faster", "## A heading\n\nThen a Dice of 0.93 below it.",
                 "```{exercise}\nShow that it reaches 0.93.\n```"]:
        assert typed_numbers(text), text
    for text in ["A Dice of {glue:text}`dice:.3f` and $\\sigma = 0.5$ in `lr=0.01`.",
                 "See page 3.4 and {doc}`page 3.5 <ch3_5>`; a 3×3 kernel; a 95% band.",
                 "as on pages 3.2 and 3.4.", "```python\nlr = 0.01\n```",
                 "## 3.2 Metrics\nIn 2015 the U-Net [link](https://x.org/1.5) came."]:
        assert not typed_numbers(text), text


@params
def test_no_result_is_typed_into_the_prose(name: str) -> None:
    found = [f"markdown cell {i}: ...{hit}..." for i, cell in enumerate(NOTEBOOKS[name].cells)
             if cell.cell_type == "markdown" for hit in typed_numbers(cell.source)]
    assert not found, "a result belongs in a glue role or a checked output:\n" + "\n".join(found)
