"""Reader-ready copies of the book's notebooks, for Colab, Jupyter and download.

    python -m tools.reader_notebooks --site _build/html   # what `make book` runs
    python -m tools.reader_notebooks --out DIR [NOTEBOOK ...]

The committed notebooks in ``book/`` are written for Jupyter Book: their Markdown
holds MyST roles and directives (``{glue:text}``, ``{cite}``, ``{term}``,
``{exercise}``, ``{solution-start}``, admonitions) that Colab and Jupyter show as
raw text, with every solution in plain view. This tool writes a copy of each
notebook in which the Markdown is plain (CommonMark with a little HTML, which
Colab, JupyterLab and Notebook 7 all render):

- glued values are pasted as text, formatted as the role asks (``name:.3f``),
  from the stored outputs of the notebook's own code cells;
- ``{term}`` becomes its text, ``{cite}`` "(Author, year)" from
  ``book/references.bib`` with a References cell at the end, ``{doc}`` a link to
  the other reader notebook, ``{math}`` inline ``$...$``;
- exercises become "**Exercise N**" paragraphs, numbered in page order;
- a solution is folded in ``<details><summary>Solution to Exercise N</summary>``;
  a gated solution (``{solution-start}`` ... ``{solution-end}`` around code cells)
  folds its text the same way, and its code cells are marked and folded too:
  a first line ``# @title Solution to Exercise N (code) { display-mode: "form" }``
  with Colab's ``cellView: form`` (Colab shows the title, the code stays hidden
  until the reader opens it) and ``jupyter.source_hidden`` (JupyterLab and Notebook 7
  collapse the input); their stored outputs are removed, since they would give
  the answer away. The code is unchanged and still runs top to bottom;
- admonitions (``{note}``, ``{admonition}`` ...) become block quotes with a bold
  title; figures (``{figure}``, ``{glue:figure}``) become Markdown images, the
  image inlined as a data URI so that it shows wherever the notebook is opened;
- MyST-only lines (``(label)=`` targets, ``%`` comments, ``+++`` breaks) go.

``--site`` also writes the Chinese edition's copies (``zh/book/``): the same
notebooks with each paragraph, heading, list item and caption replaced by its
translation from ``book/locales/zh_CN`` (``translate_markdown``) and the words the
converter adds ("Exercise", "Solution to Exercise", "References") in Chinese.

Code cells keep their source and outputs, except the outputs that only carried
glued values to the site; the shared setup cell, which installs pr_utils from the
branch in the committed notebooks, pins the commit the copy is made from (HEAD). The tool reads
the committed notebooks alone (no site build needed) and fails, naming the
notebook and the text, on a glue key or a citation it cannot resolve.
"""

from __future__ import annotations

import argparse
import base64
import copy
import re
import sys
import unicodedata
from ast import literal_eval
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from tools import ROOT

BOOK = ROOT / "book"
BIBFILE = BOOK / "references.bib"
SITE_SUBDIR = "_notebooks"

RECORD = "application/papermill.record/"
ADMONITIONS = {
    "note": "Note", "warning": "Warning", "tip": "Tip", "hint": "Hint",
    "important": "Important", "caution": "Caution", "attention": "Attention",
    "danger": "Danger", "error": "Error", "seealso": "See also",
    "margin": "", "sidebar": "", "topic": "", "epigraph": "", "dropdown": "",
}
ADMONITIONS_ZH = {
    "note": "注", "warning": "警告", "tip": "提示", "hint": "提示", "important": "重要",
    "caution": "小心", "attention": "注意", "danger": "危险", "error": "错误", "seealso": "另见",
}
# The words the converter writes itself, per edition (the Chinese one: --language zh_CN).
WORDS = {
    "en": {"exercise": "Exercise {n}", "solution": "Solution to Exercise {n}",
           "continued": "Solution to Exercise {n} (continued)",
           "code": "Solution to Exercise {n} (code)", "references": "References",
           "figure": "Figure", "rest_one": "The rest of this solution is code: the next code "
           "cell, folded under \"{code}\". Run it to check the answer.",
           "rest_many": "The rest of this solution is code: the next {k} code cells, each "
           "folded under \"{code}\". Run them to check the answer."},
    "zh": {"exercise": "练习 {n}", "solution": "练习 {n} 的解答",
           "continued": "练习 {n} 的解答（续）", "code": "练习 {n} 的解答（代码）",
           "references": "参考文献", "figure": "图",
           "rest_one": "解答的其余部分是代码：下一个代码单元，折叠在“{code}”下。运行它来检验答案。",
           "rest_many": "解答的其余部分是代码：接下来的 {k} 个代码单元，各自折叠在“{code}”下。"
           "运行它们来检验答案。"},
}
CODE_DIRECTIVES = {"code", "code-block", "code-cell", "sourcecode"}

OPEN_FENCE = re.compile(
    r"^(?P<indent> {0,3})(?P<fence>`{3,}|:{3,})\s*\{(?P<name>[^}\s]+)\}(?P<arg>.*)$")
PLAIN_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):(?P<value>.*)$")
ROLE = re.compile(r"\{(?P<name>[a-zA-Z][\w:.-]*)\}`(?P<content>[^`]*)`")
TARGET = re.compile(r"^\s*(?P<text>.*?)\s*<(?P<target>[^<>]+)>\s*$", re.S)
MYST_ONLY_LINE = re.compile(r"^(\([\w.:-]+\)=\s*|%.*|\+\+\+.*)$")

# The checks that tests/test_reader_notebooks.py applies to the output.
RAW_ROLE = re.compile(r"\{[a-zA-Z][\w:.-]*\}`")
RAW_DIRECTIVE = re.compile(r"^\s*(`{3,}|:{3,})\s*\{[^}]*\}", re.M)


class ReaderNotebookError(ValueError):
    """A notebook holds MyST that the reader copy cannot render faithfully."""


# ---------------------------------------------------------------------------
# Glued values


def glued(nb: nbformat.NotebookNode) -> dict[str, dict[str, Any]]:
    """Every value a notebook glues, as ``{name: {mime type: data}}``."""
    values: dict[str, dict[str, Any]] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            data = output.get("data", {})
            if name is None or not any(k.startswith(RECORD) for k in data):
                continue
            values[name] = {k[len(RECORD):]: v for k, v in data.items() if k.startswith(RECORD)}
    return values


def is_glue_output(output: dict[str, Any]) -> bool:
    """Whether an output only carries a glued value to the site."""
    data = output.get("data", {})
    return bool(data) and all(k.startswith(RECORD) for k in data)


def format_glued_text(text: str, fmt_spec: str) -> str:
    """Format a glued text/plain value as myst-nb's ``{glue:text}`` role does."""
    try:
        value: Any = literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if fmt_spec == "":
        return str(value)
    type_char = fmt_spec[-1]
    if type_char == "s":
        value = str(value)
    elif type_char in "bcdoxX":
        value = int(value)
    elif type_char in "eEfFgGn%":
        value = float(value)
    return format(value, fmt_spec)


# ---------------------------------------------------------------------------
# Bibliography


@dataclass(frozen=True)
class Reference:
    key: str
    authors: tuple[str, ...]  # surnames
    full_authors: str
    year: str
    title: str
    venue: str
    url: str

    def short(self) -> str:
        """"Gardner et al.", "Wilson and Nickisch", "Rosenblatt"."""
        if len(self.authors) >= 3:
            return f"{self.authors[0]} et al."
        return " and ".join(self.authors)

    def entry(self) -> str:
        """One Markdown line for the References cell."""
        parts = [f"{self.full_authors} ({self.year}). *{self.title}*."]
        if self.venue:
            parts.append(f"{self.venue}.")
        if self.url:
            parts.append(f"<{self.url}>")
        return " ".join(parts)


_ACCENTS = {"'": "\u0301", "`": "\u0300", '"': "\u0308", "^": "\u0302", "~": "\u0303",
            "c": "\u0327", "=": "\u0304", ".": "\u0307", "u": "\u0306", "v": "\u030c"}


def latex_to_text(text: str) -> str:
    """The plain text of a BibTeX field: accents as Unicode, braces and ``\\``-escapes gone."""
    def accent(m: re.Match[str]) -> str:
        return unicodedata.normalize("NFC", m.group(2) + _ACCENTS[m.group(1)])

    text = re.sub(r"\{?\\([`'\"^~=.]|[cuv](?=[ {]))\s*\{?([A-Za-z])\}?\}?", accent, text)
    text = re.sub(r"\\([&%$#_])", r"\1", text)
    text = text.replace("--", "–").replace("~", " ")
    return re.sub(r"\s+", " ", text.replace("{", "").replace("}", "")).strip()


def _fields(body: str) -> dict[str, str]:
    """The ``name = {value}`` or ``name = "value"`` or ``name = 123`` fields of one entry."""
    fields: dict[str, str] = {}
    i = 0
    while True:
        m = re.compile(r"\s*,?\s*([\w-]+)\s*=\s*").match(body, i)
        if not m:
            return fields
        name, i = m.group(1).lower(), m.end()
        if i < len(body) and body[i] in "{\"":
            close, depth, j = ("}" if body[i] == "{" else '"'), 0, i
            while j < len(body):
                ch = body[j]
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                if (close == "}" and depth == 0) or (close == '"' and ch == '"' and j > i
                                                     and depth == 0):
                    break
                j += 1
            fields[name], i = body[i + 1 : j], j + 1
        else:
            m2 = re.compile(r"[^,\s]+").match(body, i)
            if not m2:
                return fields
            fields[name], i = m2.group(0), m2.end()


def _surname(name: str) -> str:
    name = name.strip()
    if "," in name:
        return name.split(",", 1)[0].strip()
    return name.split()[-1] if name.split() else name


def _author_list(names: list[str]) -> str:
    """"A and B", "A, B and C"; "A, B, C et al." beyond five authors; first names first."""
    def natural(name: str) -> str:
        last, comma, first = name.partition(",")
        return f"{first.strip()} {last.strip()}" if comma else name.strip()

    people = [natural(n) for n in names]
    if len(people) > 5:
        return ", ".join(people[:3]) + " et al."
    if len(people) <= 2:
        return " and ".join(people)
    return ", ".join(people[:-1]) + " and " + people[-1]


def read_bibliography(path: Path = BIBFILE) -> dict[str, Reference]:
    """The entries of a BibTeX file that the book cites, keyed by citation key."""
    text = path.read_text(encoding="utf-8")
    refs: dict[str, Reference] = {}
    for m in re.finditer(r"@(\w+)\s*\{\s*([^,\s]+)\s*,", text):
        kind, key = m.group(1).lower(), m.group(2)
        if kind in {"comment", "preamble", "string"}:
            continue
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        f = {k: latex_to_text(v) for k, v in _fields(text[m.end() : j - 1]).items()}
        names = [n for n in re.split(r"\s+and\s+", f.get("author", f.get("editor", ""))) if n]
        authors = tuple(_surname(n) for n in names) or (key,)
        full = _author_list(names) or key
        venue = f.get("journal") or f.get("booktitle") or f.get("publisher") or ""
        refs[key] = Reference(key, authors, full, f.get("year", "n.d."), f.get("title", key),
                              venue, f.get("url", ""))
    return refs


# ---------------------------------------------------------------------------
# Markdown


@dataclass
class Page:
    """What converting one notebook needs to know and collects on the way."""

    name: str
    glue: dict[str, dict[str, Any]]
    bibliography: dict[str, Reference]
    titles: dict[str, str]  # other notebooks' stems -> their titles
    exercise_numbers: dict[str, int] = field(default_factory=dict)
    solution_code_cells: dict[int, int] = field(default_factory=dict)  # exercise -> cells
    cited: list[str] = field(default_factory=list)
    exercise_count: int = 0
    language: str = "en"

    def word(self, key: str, **values: Any) -> str:
        return WORDS[self.language][key].format(**values)

    def fail(self, message: str) -> ReaderNotebookError:
        return ReaderNotebookError(f"{self.name}: {message}")


def _split_target(content: str) -> tuple[str, str]:
    """``text <target>`` -> (text, target); ``target`` -> ("", target)."""
    m = TARGET.match(content)
    if m:
        return m.group("text"), m.group("target").strip()
    return "", content.strip()


def _cite(page: Page, name: str, content: str) -> str:
    keys = [k.strip() for k in content.split(",") if k.strip()]
    refs = []
    for key in keys:
        if key not in page.bibliography:
            raise page.fail(f"citation {key!r} is not in {BIBFILE.name}")
        if key not in page.cited:
            page.cited.append(key)
        refs.append(page.bibliography[key])
    if name in {"cite:t", "cite:ts", "cite:ct", "cite:cts"}:
        return ", ".join(f"{r.short()} ({r.year})" for r in refs)
    if name in {"cite:author", "cite:authors"}:
        return ", ".join(r.short() for r in refs)
    if name in {"cite:year", "cite:years"}:
        return ", ".join(r.year for r in refs)
    return "(" + "; ".join(f"{r.short()}, {r.year}" for r in refs) + ")"


def _glue_text(page: Page, content: str) -> str:
    if "::" in content:
        raise page.fail(f"glue from another document is not supported: {content!r}")
    key, _, fmt_spec = content.strip().partition(":")
    if key not in page.glue:
        raise page.fail(f"no glued value named {key!r} in the stored outputs "
                        f"(re-run `make execute NB=book/{page.name}.ipynb`)")
    data = page.glue[key]
    if "text/plain" not in data:
        raise page.fail(f"the glued value {key!r} has no text/plain form")
    return format_glued_text(str(data["text/plain"]), fmt_spec)


def render_role(page: Page, name: str, content: str) -> str:
    """The plain Markdown for one MyST role."""
    if name in {"glue", "glue:text", "glue:", "glue:any", "glue:md"}:
        return _glue_text(page, content)
    if name.startswith("cite"):
        return _cite(page, name, content)
    if name == "math":
        return f"${content}$"
    if name == "doc":
        text, target = _split_target(content)
        stem = target.rsplit("/", 1)[-1].removesuffix(".ipynb").removesuffix(".md")
        text = text or page.titles.get(stem, stem)
        return f"[{text}]({stem}.ipynb)" if stem in page.titles else text
    if name in {"ref", "numref", "eq", "term", "abbr", "download", "any"}:
        text, target = _split_target(content)
        if not text and target in page.exercise_numbers:
            return page.word("exercise", n=page.exercise_numbers[target])
        if name == "abbr":
            return re.sub(r"\s*\(.*\)\s*$", "", content)
        return text or target
    if name in {"sub", "sup"}:
        return f"<{name}>{content}</{name}>"
    if name in {"code", "literal", "samp", "file", "kbd", "command"}:
        return f"`{content}`"
    if name in {"strong"}:
        return f"**{content}**"
    if name in {"emphasis", "dfn"}:
        return f"*{content}*"
    # Anything else (a role added later): its text, never the raw role.
    text, target = _split_target(content)
    return text or target


def render_inline(page: Page, text: str) -> str:
    """Replace every MyST role in a run of Markdown text."""
    return ROLE.sub(lambda m: render_role(page, m.group("name"), m.group("content")), text)


@dataclass
class Directive:
    name: str
    argument: str
    options: dict[str, str]
    body: str


def _parse_directive(lines: list[str], start: int) -> tuple[Directive, int]:
    """The directive whose fence opens at ``lines[start]``, and the index after it."""
    m = OPEN_FENCE.match(lines[start])
    assert m is not None
    fence = m.group("fence")
    closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
    body: list[str] = []
    i = start + 1
    while i < len(lines) and not closing.match(lines[i]):
        body.append(lines[i])
        i += 1
    options: dict[str, str] = {}
    if body and body[0].strip() == "---":  # YAML block of options
        end = next((k for k in range(1, len(body)) if body[k].strip() == "---"), None)
        if end is not None:
            for line in body[1:end]:
                key, _, value = line.partition(":")
                options[key.strip()] = value.strip()
            body = body[end + 1 :]
    while body and (om := OPTION.match(body[0])):
        options[om.group("key")] = om.group("value").strip()
        body = body[1:]
    while body and not body[0].strip():
        body = body[1:]
    return Directive(m.group("name"), m.group("arg").strip(), options, "\n".join(body)), i + 1


def _blockquote(title: str, body: str) -> str:
    lines = ([f"**{title}**", ""] if title else []) + body.rstrip().split("\n")
    return "\n".join(f"> {line}".rstrip() for line in lines)


def _details(summary: str, body: str) -> str:
    # The blank lines let Colab and Jupyter render the Markdown inside the HTML.
    return f"<details>\n<summary>{summary}</summary>\n\n{body.strip()}\n\n</details>"


def _image(page: Page, mime_data: dict[str, Any], alt: str, what: str) -> str:
    for mime in ("image/png", "image/jpeg", "image/svg+xml"):
        if mime in mime_data:
            data = mime_data[mime]
            if mime == "image/svg+xml":
                svg = data if isinstance(data, str) else "".join(data)
                data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
            data = "".join(data) if isinstance(data, list) else str(data)
            return f"![{alt}](data:{mime};base64,{data.strip()})"
    raise page.fail(f"{what} has no PNG, JPEG or SVG image")


@dataclass
class Gate:
    """An open gated solution: ``{solution-start}`` seen, ``{solution-end}`` not yet."""

    number: int
    text: list[str] = field(default_factory=list)
    emitted: bool = False  # a first part is out: text after its code cells continues it


def render_markdown(page: Page, source: str, gate: Gate | None, *,
                    base: Path) -> tuple[str, Gate | None]:
    """Plain Markdown for one cell's MyST, and the gated solution still open after it.

    Text inside an open gated solution is collected in the gate and emitted,
    folded, when the cell ends or the solution does.
    """
    lines = source.split("\n")
    out: list[str] = []

    def emit(text: str) -> None:
        (gate.text if gate is not None else out).append(text)

    def flush_gate() -> None:
        if gate is not None and "\n".join(gate.text).strip():
            text = "\n\n".join(gate.text)
            n_code = page.solution_code_cells.get(gate.number, 0)
            if gate.emitted:
                out.append(_details(page.word("continued", n=gate.number), text))
                gate.text.clear()
                return
            gate.emitted = True
            if n_code:
                rest = page.word("rest_one" if n_code == 1 else "rest_many", k=n_code,
                                 code=page.word("code", n=gate.number))
                text += f"\n\n*{rest}*"
            out.append(_details(page.word("solution", n=gate.number), text))
            gate.text.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if OPEN_FENCE.match(line):
            d, i = _parse_directive(lines, i)
            if d.name == "solution-start":
                flush_gate()
                gate = Gate(page.exercise_numbers.get(d.argument, 0))
                if gate.number == 0:
                    raise page.fail(f"a solution of an unknown exercise {d.argument!r}")
                emit(render_markdown(page, d.body, None, base=base)[0])
            elif d.name == "solution-end":
                flush_gate()
                gate = None
                emit(render_markdown(page, d.body, None, base=base)[0])
            else:
                emit(render_directive(page, d, base=base))
            continue
        pm = PLAIN_FENCE.match(line)
        if pm:  # a code block: copied as it is
            fence = pm.group("fence")
            closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
            j = i + 1
            while j < len(lines) and not closing.match(lines[j]):
                j += 1
            emit("\n".join(lines[i : j + 1]))
            i = j + 1
            continue
        if MYST_ONLY_LINE.match(line):
            i += 1
            continue
        j = i
        while (j < len(lines) and not OPEN_FENCE.match(lines[j])
               and not PLAIN_FENCE.match(lines[j])):
            j += 1
        chunk = [ln for ln in lines[i:j] if not MYST_ONLY_LINE.match(ln)]
        emit(render_inline(page, "\n".join(chunk)))
        i = j
    flush_gate()
    text = "\n\n".join(part.strip("\n") for part in out if part.strip())
    return re.sub(r"\n{3,}", "\n\n", text), gate


def render_directive(page: Page, d: Directive, *, base: Path) -> str:
    """The plain Markdown for one MyST directive (solution gates excluded)."""
    def body() -> str:
        return render_markdown(page, d.body, None, base=base)[0]

    if d.name in {"exercise", "exercise-start"}:
        label = d.options.get("label", "")
        number = page.exercise_numbers.get(label) or page.exercise_count + 1
        page.exercise_count = max(page.exercise_count, number)
        title = render_inline(page, d.argument)
        head = f"**{page.word('exercise', n=number)}**" + (f" ({title})" if title else "")
        return f"{head}\n\n{body()}"
    if d.name == "exercise-end":
        return body()
    if d.name == "solution":
        solved = page.exercise_numbers.get(d.argument)
        if solved is None:
            raise page.fail(f"a solution of an unknown exercise {d.argument!r}")
        return _details(page.word("solution", n=solved), body())
    if d.name == "admonition":
        return _blockquote(render_inline(page, d.argument), body())
    if d.name in ADMONITIONS:
        default = (ADMONITIONS_ZH.get(d.name, ADMONITIONS[d.name]) if page.language == "zh"
                   else ADMONITIONS[d.name])
        title = render_inline(page, d.argument) or default
        return _blockquote(title, body())
    if d.name in {"math", "equation"}:
        return f"$$\n{d.body.strip()}\n$$"
    if d.name in CODE_DIRECTIVES:
        return f"```{d.argument}\n{d.body}\n```"
    if d.name in {"glue", "glue:", "glue:any", "glue:figure"}:
        key = d.argument
        if key not in page.glue:
            raise page.fail(f"no glued value named {key!r} in the stored outputs "
                        f"(re-run `make execute NB=book/{page.name}.ipynb`)")
        data = page.glue[key]
        caption = body()
        if any(m.startswith("image/") for m in data):
            image = _image(page, data, d.options.get("alt", key), f"glued figure {key!r}")
            return image + (f"\n\n*{caption}*" if caption else "")
        return format_glued_text(str(data.get("text/plain", "")), "") + (
            f"\n\n{caption}" if caption else "")
    if d.name in {"figure", "image"}:
        path = (base / d.argument).resolve()
        if not path.is_file():
            raise page.fail(f"figure file {d.argument!r} not found")
        suffix = path.suffix.lower().lstrip(".")
        mime = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
                "svg": "image/svg+xml"}.get(suffix)
        if mime is None:
            raise page.fail(f"figure {d.argument!r}: only PNG, JPEG and SVG are inlined")
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        caption = body()
        alt = d.options.get("alt", caption.split("\n")[0] if caption else path.stem)
        return f"![{alt}](data:{mime};base64,{encoded})" + (
            f"\n\n*{caption}*" if caption else "")
    # A directive this tool does not know: its text, under its title, never raw MyST.
    title = render_inline(page, d.argument) or d.name.replace("-", " ").capitalize()
    return _blockquote(title, body())


# ---------------------------------------------------------------------------
# Notebooks


def _title(nb: nbformat.NotebookNode, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return m.group(1).strip()
    return fallback


def _exercise_numbers(nb: nbformat.NotebookNode) -> dict[str, int]:
    """Exercise labels in page order -> 1, 2, ... (as sphinx-exercise numbers them)."""
    numbers: dict[str, int] = {}
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.split("\n")
        for i, line in enumerate(lines):
            m = OPEN_FENCE.match(line)
            if m and m.group("name") in {"exercise", "exercise-start"}:
                count += 1
                d, _ = _parse_directive(lines, i)
                numbers[d.options.get("label", f"exercise-{count}")] = count
    return numbers


def _solution_code_cells(nb: nbformat.NotebookNode, numbers: dict[str, int]) -> dict[int, int]:
    """Exercise number -> how many code cells its gated solution holds."""
    counts: dict[int, int] = {}
    current: int | None = None
    for cell in nb.cells:
        if cell.cell_type == "code" and current is not None:
            counts[current] = counts.get(current, 0) + 1
        elif cell.cell_type == "markdown":
            for m in re.finditer(r"\{(solution-start|solution-end)\}(.*)$", cell.source, re.M):
                starts = m.group(1) == "solution-start"
                current = numbers.get(m.group(2).strip()) if starts else None
    return counts


def _fold_solution_code(cell: nbformat.NotebookNode, label: str) -> None:
    # Colab's form syntax: the title is shown, the code hidden until the reader opens it.
    title = f'# @title {label} {{ display-mode: "form" }}'
    if not cell.source.startswith("# @title"):
        cell.source = f"{title}\n{cell.source}"
    cell.metadata["cellView"] = "form"  # Colab: show the title, hide the code
    cell.metadata.setdefault("jupyter", {})["source_hidden"] = True  # JupyterLab, Notebook 7
    cell.outputs = []
    cell.execution_count = None


def convert(nb: nbformat.NotebookNode, name: str, *,
            bibliography: dict[str, Reference] | None = None,
            titles: dict[str, str] | None = None,
            base: Path = BOOK, language: str = "en") -> nbformat.NotebookNode:
    """A reader-ready copy of one notebook (the input is left unchanged)."""
    page = Page(name=name, glue=glued(nb),
                bibliography=bibliography if bibliography is not None else {},
                titles=titles or {}, exercise_numbers=_exercise_numbers(nb),
                language=language)
    page.solution_code_cells = _solution_code_cells(nb, page.exercise_numbers)
    reader = copy.deepcopy(nb)
    cells: list[nbformat.NotebookNode] = []
    gate: Gate | None = None
    for cell in reader.cells:
        if cell.cell_type == "markdown":
            try:
                cell.source, gate = render_markdown(page, cell.source, gate, base=base)
            except ReaderNotebookError:
                raise
            except Exception as exc:  # name the notebook and cell in any failure
                raise page.fail(f"cannot render {cell.source[:60]!r}: {exc}") from exc
            if cell.source.strip():
                cells.append(cell)
        elif cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if not is_glue_output(o)]
            if gate is not None:
                _fold_solution_code(cell, page.word("code", n=gate.number))
            cells.append(cell)
            caption = cell.metadata.get("mystnb", {}).get("figure", {}).get("caption")
            if caption and any("image/png" in o.get("data", {}) for o in cell.outputs):
                # The site's figure caption (myst-nb metadata), as a line under the figure.
                text, _ = render_markdown(page, caption, None, base=base)
                below = nbformat.v4.new_markdown_cell(f"*{page.word('figure')}: {text.strip()}*")
                below.id = f"{cell.get('id', 'cell')}-caption"[:64]
                cells.append(below)
        else:
            cells.append(cell)
    if gate is not None:
        raise page.fail(f"the solution to Exercise {gate.number} has no {{solution-end}}")
    if page.cited:
        entries = "\n".join(f"- {page.bibliography[k].entry()}" for k in page.cited)
        references = nbformat.v4.new_markdown_cell(
            f"## {page.word('references')}\n\n{entries}")
        references.id = "reader-references"
        cells.append(references)
    reader.cells = cells
    reader.metadata.pop("widgets", None)
    # Where the copy comes from: edit that notebook, never this one.
    reader.metadata["reader_notebook"] = {"source": f"book/{name}.ipynb",
                                          "generator": "tools/reader_notebooks.py"}
    problems = raw_myst(reader)
    if problems:
        raise page.fail(f"raw MyST left: {problems[:3]}")
    return reader


LIST_ITEM = re.compile(r"^(?P<lead>\s*(?:[-*+]|\d+[.)])\s+)(?P<text>\S.*)$")
HEADING = re.compile(r"^(?P<lead>#{1,6}\s+)(?P<text>.*\S)\s*$")
ANY_FENCE = re.compile(r"^\s*(`{3,}|:{3,}|~{3,})")


def translate_markdown(source: str, lookup: dict[str, str]) -> tuple[str, int, int]:
    """Replace each paragraph, heading and list item of MyST ``source`` by its translation.

    ``lookup`` maps English messages, as Sphinx's gettext builder cuts them (a
    block's lines joined by spaces), to their translations; code blocks, display
    maths, directive fences and options are copied. Returns the text and the
    numbers of translated and of translatable blocks.
    """
    lines = source.split("\n")
    out: list[str] = []
    done = total = 0
    i = 0

    def block_end(start: int, item: bool) -> int:
        j = start + 1
        while j < len(lines):
            ln = lines[j]
            if (not ln.strip() or ANY_FENCE.match(ln) or HEADING.match(ln)
                    or ln.strip().startswith("$$") or OPTION.match(ln.strip())
                    or LIST_ITEM.match(ln) or MYST_ONLY_LINE.match(ln)):
                break
            j += 1
        return j

    while i < len(lines):
        line = lines[i]
        plain = PLAIN_FENCE.match(line)
        if plain and not OPEN_FENCE.match(line) and plain.group("info").strip() != "":
            fence = plain.group("fence")  # a code block: copied whole
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(fence):
                j += 1
            out.extend(lines[i : j + 1])
            i = j + 1
            continue
        if line.strip().startswith("$$"):  # display maths: copied whole
            j = i if line.strip().endswith("$$") and line.strip() != "$$" else i + 1
            while j < len(lines) and not lines[j].strip().endswith("$$"):
                j += 1
            out.extend(lines[i : j + 1])
            i = j + 1
            continue
        if (not line.strip() or ANY_FENCE.match(line) or OPTION.match(line.strip())
                or MYST_ONLY_LINE.match(line)):
            out.append(line)
            i += 1
            continue
        heading, item = HEADING.match(line), LIST_ITEM.match(line)
        if heading:
            lead, first, j = heading.group("lead"), heading.group("text"), i + 1
        elif item:
            lead, first, j = item.group("lead"), item.group("text"), block_end(i, True)
        else:
            lead, first, j = "", line.strip(), block_end(i, False)
        key = " ".join([first] + [ln.strip() for ln in lines[i + 1 : j]]).strip()
        total += 1
        if key in lookup:
            done += 1
            out.append(lead + lookup[key])
        else:
            out.extend(lines[i:j])
        i = j
    return "\n".join(out), done, total


def translations(stem: str, language: str) -> dict[str, str]:
    """English message -> translation, from the page's catalogue (tools/i18n.py)."""
    from tools import i18n

    if language == "en":
        return {}
    po = i18n.CATALOGUES / "book" / f"{stem}.po"
    if not po.is_file():
        raise ReaderNotebookError(f"{stem}: no catalogue {po}")
    return {str(m.id).strip(): str(m.string) for m in i18n.read(po)
            if m.id and m.string and not m.fuzzy}


# The English pages' Chinese recap after the Summary: a "### 小结" section or a
# paragraph opening with **小结**. A Chinese copy drops it, as the Chinese site does
# (book/_ext/editions.py): its Summary already says the same in Chinese.
RECAP = re.compile(r"^###\s*小结\s*\n(?:(?!#).*\n?)*|^\*\*小结[.。:：]?\*\*.*(?:\n(?!\n).*)*",
                   re.M)


def translate_notebook(nb: nbformat.NotebookNode, lookup: dict[str, str]
                       ) -> tuple[nbformat.NotebookNode, int, int]:
    """A copy of ``nb`` with its prose and figure captions translated; code untouched."""
    nb = copy.deepcopy(nb)
    done = total = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source, d, n = translate_markdown(RECAP.sub("", cell.source).rstrip("\n"),
                                                   lookup)
            done, total = done + d, total + n
        figure = cell.metadata.get("mystnb", {}).get("figure", {})
        if figure.get("caption"):
            total += 1
            key = " ".join(figure["caption"].split())
            if key in lookup:
                figure["caption"], done = lookup[key], done + 1
    return nb, done, total


def raw_myst(nb: nbformat.NotebookNode) -> list[str]:
    """MyST roles or directives left in a notebook's Markdown (empty for a reader copy)."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found += [m.group(0) for m in RAW_ROLE.finditer(cell.source)]
            found += [m.group(0).strip() for m in RAW_DIRECTIVE.finditer(cell.source)]
    return found


def generate(out_dir: Path, notebooks: Iterable[Path] | None = None, *,
             bibfile: Path = BIBFILE, language: str = "en",
             coverage: dict[str, tuple[int, int]] | None = None) -> list[Path]:
    """Write a reader-ready copy of each notebook to ``out_dir``; return their paths.

    With ``language="zh"`` the prose comes from the Chinese catalogues; ``coverage``
    then receives, per notebook, (translated, translatable) blocks.
    """
    from tools.notebooks import book_notebooks, head_commit, setup_cell_source

    paths = [Path(p) for p in notebooks] if notebooks is not None else book_notebooks()
    # The committed setup cells install pr_utils from the branch; a published copy pins
    # the commit it is made from, whose pr_utils made (and CI checked) its outputs.
    pinned_setup = setup_cell_source(head_commit())
    if not paths:
        raise ValueError("no notebooks to convert")
    bibliography = read_bibliography(bibfile) if bibfile.is_file() else {}

    def source(path: Path) -> tuple[nbformat.NotebookNode, int, int]:
        nb = nbformat.read(path, as_version=4)
        if language == "en":
            return nb, 0, 0
        return translate_notebook(nb, translations(path.stem, language))

    titles = {p.stem: _title(source(p)[0], p.stem) for p in book_notebooks()}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nb, done, total = source(path)
        if coverage is not None:
            coverage[path.stem] = (done, total)
        reader = convert(nb, path.stem, bibliography=bibliography, titles=titles,
                         base=path.parent, language=language)
        setup = next((c for c in reader.cells if c.cell_type == "code"), None)
        if setup is not None and setup.source.startswith("# Setup, the same first cell"):
            setup.source = pinned_setup
        target = out_dir / path.name
        nbformat.validate(reader)
        target.write_text(
            nbformat.writes(reader, version=4).rstrip("\n") + "\n", encoding="utf-8")
        written.append(target)
    return written


BINDER_REQUIREMENTS = """\
# Binder's image for the reader-ready notebooks (written by tools/reader_notebooks.py).
# PyTorch's CPU build: Binder has no GPU, and the default wheel pulls gigabytes of CUDA.
--extra-index-url https://download.pytorch.org/whl/cpu
torch
{requirement}
"""

BRANCH_README = """\
# Reader-ready notebooks

Generated by `make book` from the `{branch}` branch at commit {commit}: do not edit
here. The Colab, Binder and JupyterHub buttons of the book's site open these
copies, in which the book's MyST markup is plain Markdown and solutions are folded.
"""


def publish(out: Path, written: list[Path]) -> None:
    """Lay out ``out`` as the branch the launch buttons open (book/editions.py):
    ``book/<page>.ipynb`` as in the repository, ``binder/requirements.txt`` that
    installs pr_utils at the commit the copies' setup cells pin (HEAD), and a README."""
    from tools.notebooks import head_commit, repository

    commit = head_commit()
    url, branch = repository()
    book = out / "book"
    book.mkdir(parents=True, exist_ok=True)
    for path in written:
        path.replace(book / path.name)
    # The Chinese edition's copies, opened by its pages' buttons (book/_ext/editions.py).
    generate(out / "zh" / "book", [BOOK / p.name for p in written], language="zh")
    (out / "binder").mkdir(exist_ok=True)
    (out / "binder" / "requirements.txt").write_text(BINDER_REQUIREMENTS.format(
        requirement=f"pr-utils @ git+{url}@{commit}"), encoding="utf-8")
    (out / "README.md").write_text(BRANCH_README.format(branch=branch, commit=commit),
                                   encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="directory for the reader notebooks")
    where.add_argument("--site", type=Path,
                       help=f"a built site: write SITE/{SITE_SUBDIR}/ in the layout of the "
                            "reader-notebooks branch (book/*.ipynb, binder/) and give the "
                            "download button (SITE/_sources/book/*.ipynb) the reader copies")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to convert (default: every one in book/)")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else args.site / SITE_SUBDIR
    try:
        written = generate(out, args.notebooks or None)
    except ReaderNotebookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.site is not None:
        for path in written:
            source = args.site / "_sources" / "book" / path.name
            if source.is_file():
                source.write_bytes(path.read_bytes())
        try:
            publish(out, written)
        except ReaderNotebookError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(f"{len(written)} reader notebooks in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
