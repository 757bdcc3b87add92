"""House rules for every notebook in book/, checked on the committed files.

nbval re-runs the notebooks; these tests check what nbval does not: that they
were executed and stored cleanly, and that they follow the book's conventions.
"""

import ast
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.notebooks import COLAB_GPU, KERNELSPEC, book_notebooks, setup_cell_source

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = book_notebooks()
IGNORE = "# NBVAL_IGNORE_OUTPUT"

Notebook = dict[str, Any]


def load(path: Path) -> Notebook:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def code_cells(nb: Notebook) -> list[dict[str, Any]]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell: dict[str, Any]) -> str:
    return "".join(cell["source"])


def ignored(cell: dict[str, Any]) -> bool:
    return source(cell).lstrip().startswith(IGNORE)


def test_the_book_has_notebooks() -> None:
    assert NOTEBOOKS, "no notebooks found under book/"


params = pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)


@params
def test_starts_with_the_shared_setup_cell(path: Path) -> None:
    first = source(code_cells(load(path))[0])
    assert first == setup_cell_source(), "run `make stamp` to write the current setup cell"
    assert code_cells(load(path))[0]["metadata"].get("tags") == ["hide-input"], "folded on the site"


@params
def test_committed_setup_cell_installs_from_the_configured_repository(path: Path) -> None:
    # Read what readers run (the committed cell), not the template that stamps it.
    cell = source(code_cells(load(path))[0])
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    found = re.findall(r"git\+(https://github\.com/[\w.-]+/[\w.-]+)@([\w.-]+)\"", cell)
    repo = config["repository"]
    # The branch, not a commit: changing pr_utils changes no committed notebook (the
    # published copies pin the commit they are made from).
    assert found == [(repo["url"].rstrip("/"), repo["branch"])]
    # It acts wherever pr_utils is missing (Colab, Kaggle, plain Jupyter), not only on Colab,
    # and keeps what the runtime has (every installed distribution, URL and editable
    # installs too, becomes a constraint), the rest at the lock's versions.
    assert 'importlib.util.find_spec("pr_utils") is None' in cell
    assert "metadata.distributions()" in cell and "requirements.lock" in cell
    assert "TemporaryDirectory" in cell, "the constraints file is removed afterwards"
    # Reinstalling or pinning torch or numpy forces a restart of the Colab runtime.
    assert not re.search(r"\b(torch|numpy)\b[^\n]*[=<>]", cell)
    assert "-e" not in cell.split(), "editable installs need a runtime restart on Colab"


@params
def test_plain_python3_kernel_and_clean_metadata(path: Path) -> None:
    nb = load(path)
    assert nb["metadata"]["kernelspec"] == KERNELSPEC
    assert nb["metadata"]["language_info"] == {"name": "python"}, "no interpreter version"
    for cell in nb["cells"]:
        assert set(cell["metadata"]) <= {"tags", "mystnb", "editable", "deletable"}, (
            "timestamps or editor state in cell metadata; regenerate with `make execute`"
        )


@params
def test_executed_top_to_bottom(path: Path) -> None:
    cells = code_cells(load(path))
    assert all(source(c).strip() for c in cells), "an empty code cell shows readers nothing"
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, "unexecuted cells are not compared by nbval"
    assert counts == list(range(counts[0], counts[0] + len(counts))), "executed out of order"


@params
def test_stored_outputs_are_comparable_and_clean(path: Path) -> None:
    machine_paths = [str(ROOT), os.path.expanduser("~"), "site-packages"]
    for i, cell in enumerate(code_cells(load(path))):
        for out in cell["outputs"]:
            where = f"code cell {i}"
            assert out["output_type"] != "error", f"{where} stores an error"
            data = out.get("data", {})
            # nbval compares SVG and HTML as text, which changes between versions.
            assert "image/svg+xml" not in data, f"{where}: keep figures PNG"
            if not ignored(cell):
                assert "text/html" not in data, f"{where}: HTML repr in a checked cell"
            text = "".join(out.get("text", "")) + "".join(data.get("text/plain", ""))
            assert not re.search(r"\w+Warning\b", text), f"{where}: a warning leaked out"
            for p in machine_paths:
                assert p not in text, f"{where}: shows a machine path"


@params
def test_no_stored_output_is_stderr_or_a_widget(path: Path) -> None:
    # The site shows stderr as a pink box, also in ignored cells. Progress bars are the
    # usual source: the executors set PR_UTILS_PROGRESS=0 (see pr_utils.runtime).
    for i, cell in enumerate(code_cells(load(path))):
        for out in cell["outputs"]:
            assert out.get("name") != "stderr", (
                f"code cell {i} stores stderr; re-run with `make execute NB={path.parent.name}/"
                f"{path.name}`, and silence or fix whatever writes it")
            assert "application/vnd.jupyter.widget-view+json" not in out.get("data", {}), (
                f"code cell {i} stores a widget (a progress bar?); re-run with `make execute`")


def bound_names(code: str) -> set[str]:
    """Names a cell assigns, defines, imports or mutates (``x[...] = ``, ``x.a = ``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, ast.Store):
            base = node.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                names.add(base.id)
    return names


def vacuous(test: ast.expr) -> bool:
    """A condition that holds whatever was computed: ``x in {"cpu", "cuda"}``, the value
    checked against a list of every value it can take, rather than against a result."""
    return (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], ast.In)
            and isinstance(test.comparators[0], (ast.Set, ast.Tuple, ast.List))
            and all(isinstance(e, ast.Constant) for e in test.comparators[0].elts))


def asserted_names(code: str) -> set[str]:
    """Names read by the conditions of the ``assert`` statements of a cell (none of a
    vacuous one)."""
    return {n.id for node in ast.walk(ast.parse(code))
            if isinstance(node, ast.Assert) and not vacuous(node.test)
            for n in ast.walk(node.test) if isinstance(n, ast.Name)}


def derived_names(code: str, known: set[str]) -> set[str]:
    """``known`` plus every name a cell assigns from them (``x = f(known)``), to a fixpoint."""
    names = set(known)
    assignments = [node for node in ast.walk(ast.parse(code))
                   if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign))]
    changed = True
    while changed:
        changed = False
        for node in assignments:
            if node.value is None:
                continue
            read = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
            if read & names:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                new = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
                changed |= not new <= names
                names |= new
    return names


def test_bound_and_asserted_names() -> None:
    ignored_cell = "a, b = f()\nc[0] = 1\nd.x = 2\nfor e in []: pass\nimport numpy as np"
    assert bound_names(ignored_cell) == {"a", "b", "c", "d", "e", "np"}
    assert asserted_names("x = 1\nassert a > y, 'msg'\nprint(b)") == {"a", "y"}
    assert asserted_names('assert d in {"cpu", "cuda"}') == set()
    assert asserted_names('assert d == ("cuda" if cuda() else "cpu")') == {"d", "cuda"}
    assert derived_names("u = a + 1\nv, w = g(u)\nz = 3", {"a"}) == {"a", "u", "v", "w"}


@params
def test_ignored_outputs_are_followed_by_an_assertion_about_them(path: Path) -> None:
    cells = code_cells(load(path))
    for i, cell in enumerate(cells):
        if ignored(cell):
            following = source(cells[i + 1]) if i + 1 < len(cells) else ""
            made = bound_names(source(cell))
            checked = asserted_names(following) & derived_names(following, made)
            assert checked, (
                f"code cell {i} ignores its output, but the next cell asserts nothing about "
                f"what it computed (names bound there: {sorted(made)})"
            )


@params
def test_seeds_and_picks_its_device_through_pr_utils(path: Path) -> None:
    nb = load(path)
    code = "\n".join(source(c) for c in code_cells(nb))
    assert "seed_everything(" in code
    assert not re.search(r"""torch\.device\(\s*["']cuda""", code), "use pr_utils.get_device()"
    assert ".cuda()" not in code, "use .to(device)"
    if "get_device(" in code:
        for key, value in COLAB_GPU.items():
            assert nb["metadata"].get(key) == value, "notebooks on a device ask Colab for a GPU"


@params
def test_glued_values_are_plain_python(path: Path) -> None:
    # myst-nb formats glued numbers from their text repr; NumPy 2 writes np.float64(...),
    # which the site cannot format (a build warning, and a raw value on the page).
    for i, cell in enumerate(code_cells(load(path))):
        for out in cell["outputs"]:
            for key, value in out.get("data", {}).items():
                if key.startswith("application/papermill.record/"):
                    text = "".join(value)
                    assert "np." not in text, f"code cell {i}: glue a float(), not {text}"


def significant_digits(text: str) -> int:
    mantissa = text.lower().split("e")[0]
    return len(re.sub(r"\D", "", mantissa).lstrip("0"))


def test_significant_digits() -> None:
    assert significant_digits("2.804879774583836") == 16
    assert significant_digits("0.002709") == 4
    assert significant_digits("1.5e-07") == 2


@params
def test_checked_glued_floats_are_rounded(path: Path) -> None:
    # A float glued at full precision is compared to its last digit, which another
    # BLAS, NumPy or thread count moves (2.804879774583833 vs ...836 under the oldest
    # dependencies). Glue it rounded to a little more than the prose shows.
    for i, cell in enumerate(code_cells(load(path))):
        if ignored(cell):
            continue
        for out in cell["outputs"]:
            text = "".join(out.get("data", {}).get("application/papermill.record/text/plain", ""))
            try:
                float(text)
            except ValueError:
                continue
            assert significant_digits(text) <= 6, f"code cell {i}: glue round(x, k), not {text}"


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
)]
TYPED_NUMBER = re.compile(
    r"(?<![\w.])\d+(?:\.\d+)?\s?%"                           # 0.27 %, 40%
    r"|(?<![\w.])\d+(?:\.\d+)?\s?×(?!\s?\d)"                  # 12× (not 3×3, a size)
    r"|(?<![\w.])\d+(?:\.\d+)?\s+times\s+(?:faster|slower|more|less|larger|smaller|as)\b"
    r"|(?<![\w.])\d+\.\d+(?!\w|\.\d)"                        # 0.924, also ending a sentence
)


def typed_numbers(markdown: str) -> list[str]:
    """The hand-typed numbers in one Markdown cell, each with a little context."""
    text = markdown
    for pattern in UNTYPED:
        text = pattern.sub(" ", text)
    for phrase in ALLOWED_PHRASES:
        text = text.replace(phrase, " ")
    return [text[max(0, m.start() - 30):m.end() + 10].strip() for m in TYPED_NUMBER.finditer(text)]


def test_typed_numbers_finds_a_planted_result() -> None:
    assert typed_numbers("The U-Net reaches a Dice of 0.924 on the test slices.")
    assert typed_numbers("It fails for about 0.27 % of seeds.")
    assert typed_numbers("The GPU is 12× faster.") and typed_numbers("it is 8 times faster")
    assert typed_numbers("*12.5* ppm")
    assert not typed_numbers("A Dice of {glue:text}`dice:.3f` and $\\sigma = 0.5$ in `lr=0.01`.")
    assert not typed_numbers("See page 3.4 and {doc}`page 3.5 <ch3_5>`; a 3×3 kernel; a 95% band.")
    assert not typed_numbers("as on pages 3.2 and 3.4.") and typed_numbers("Dice 0.93.")
    assert not typed_numbers("## 3.2 Metrics\nIn 2015 the U-Net [link](https://x.org/1.5) came.")
    assert typed_numbers("## A heading\n\nThen a Dice of 0.93 below it.")
    assert typed_numbers("```{exercise}\nShow that it reaches 0.93.\n```")
    assert not typed_numbers("```python\nlr = 0.01\n```")


@params
def test_no_result_is_typed_into_the_prose(path: Path) -> None:
    found = [f"markdown cell {i}: ...{hit}..."
             for i, cell in enumerate(load(path)["cells"]) if cell["cell_type"] == "markdown"
             for hit in typed_numbers(source(cell))]
    assert not found, "a result belongs in a glue role or a checked output:\n" + "\n".join(found)
