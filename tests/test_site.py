"""Browser test of the built site: open every page in headless Chromium.

Runs after `make book`. Checks that equations are typeset (no raw `$$` left),
every image loaded, each notebook page's Colab button points at that notebook in
the repository, and no internal link is broken; saves a screenshot of one page
to `_build/screenshots/` for review. Checks the PDF of the whole book that
`make book` prints (tools/pdf.py) and the intro page links to. Under CI it must
run; on a machine without Chromium or without a built site it skips and says why.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest
import yaml
from common import CJK, ROOT, SITE, unavailable

from tools.pdf import (
    CHROMIUM_ARGS,
    chromium_path,
    cjk_fonts,
    page_count,
    serve,
    toc_pages,
    uses_cjk_font,
)

pytestmark = pytest.mark.site

SCREENSHOTS = ROOT / "_build" / "screenshots"
PDF = SITE / "book.pdf"
REDIRECT = re.compile(r'http-equiv="refresh" content="0; url=([^"]+)"', re.I)

# Visible text outside code, maths and scripts: where a raw `$$` would be a bug.
VISIBLE_TEXT_JS = """() => {
  const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'MJX-CONTAINER', 'TEXTAREA']);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      for (let el = node.parentElement; el; el = el.parentElement)
        if (skip.has(el.tagName)) return NodeFilter.FILTER_REJECT;
      return NodeFilter.FILTER_ACCEPT;
    }
  });
  let text = '';
  while (walker.nextNode()) text += walker.currentNode.nodeValue;
  return text;
}"""


ZH = "zh"  # the Chinese edition's folder (tools/i18n.py)
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# The article's prose blocks, without code, maths, cell outputs and citations.
ARTICLE_BLOCKS_JS = """() => {
  const article = document.querySelector('article.bd-article') || document.body;
  const skip = 'pre, code, .math, mjx-container, .cell_output, .output, script, style, '
             + '.bibliography, .citation, .cell_input';
  const blocks = [];
  for (const el of article.querySelectorAll('p, li, h1, h2, h3, h4, figcaption, dd, dt')) {
    if (el.closest(skip)) continue;
    const clone = el.cloneNode(true);
    clone.querySelectorAll(skip).forEach(x => x.remove());
    clone.querySelectorAll('ul, ol').forEach(x => x.remove());
    const text = clone.textContent.replace(/\\s+/g, ' ').trim();
    if (text) blocks.push(text);
  }
  return blocks;
}"""


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    if not (SITE / "index.html").is_file():
        unavailable("the site is not built: run `make book` first")
    with serve(SITE) as url:
        yield url


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    executable = chromium_path()
    if executable is None:
        unavailable("Chromium not found: install Debian's `chromium` package to run this test")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed: `pip install -e .[test]`")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


def pages() -> list[str]:
    if not SITE.is_dir():
        return ["index.html"]
    html = (p for p in SITE.rglob("*.html") if "_static" not in p.parts)
    return sorted(str(p.relative_to(SITE)) for p in html)


def notebook_pages() -> dict[str, str]:
    """Site page -> notebook path in the repository, for every notebook in the book."""
    return {
        str(nb.relative_to(ROOT).with_suffix(".html")): str(nb.relative_to(ROOT))
        for nb in (ROOT / "book").rglob("*.ipynb")
        if ".ipynb_checkpoints" not in nb.parts
    }


def anchor_exists(target: Path, fragment: str) -> bool:
    html = target.read_text(encoding="utf-8")
    return f'id="{fragment}"' in html or f'name="{fragment}"' in html


@pytest.mark.parametrize("page_path", pages())
def test_page(browser, base_url: str, page_path: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    redirect = REDIRECT.search((SITE / page_path).read_text(encoding="utf-8"))
    if redirect:  # the root index.html only forwards to the first page
        target = redirect.group(1)
        assert (SITE / page_path).parent.joinpath(target).is_file(), f"redirect to {target}"
        page.goto(base_url + page_path)
        page.wait_for_url(f"**/{target}")
        page.close()
        return
    page.goto(base_url + page_path, wait_until="load")

    # Equations: MathJax has run and typeset every math element.
    if page.evaluate("() => document.querySelectorAll('.math').length") > 0:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        untypeset = page.evaluate(
            "() => Array.from(document.querySelectorAll('.math'))"
            ".filter(el => !el.querySelector('mjx-container')).map(el => el.textContent)"
        )
        assert not untypeset, f"math not typeset: {untypeset[:3]}"
    assert "$$" not in page.evaluate(VISIBLE_TEXT_JS), "raw $$ left in the page text"

    # Images: every one loaded.
    broken = page.evaluate(
        "() => Array.from(document.images)"
        ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert not broken, f"images that did not load: {broken}"

    # Colab button on notebook pages (both editions): the reader-ready copy of this
    # notebook, on the branch CI publishes from _build/html/_notebooks.
    hrefs: list[str] = page.evaluate("() => Array.from(document.links).map(a => a.href)")
    colab = [h for h in hrefs if h.startswith("https://colab.research.google.com/")]
    chinese = page_path.startswith(f"{ZH}/")
    english_path = page_path.removeprefix(f"{ZH}/")
    notebook = notebook_pages().get(english_path)
    if notebook is not None:
        config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
        repo = urlparse(config["repository"]["url"]).path.strip("/")
        branch = config["sphinx"]["config"]["reader_notebooks_branch"]
        copy = f"{ZH}/{notebook}" if chinese else notebook
        expected = f"https://colab.research.google.com/github/{repo}/blob/{branch}/{copy}"
        assert colab == [expected], f"Colab links {colab}, expected [{expected}]"
        assert (SITE / "_notebooks" / copy).is_file(), "no reader copy to open"
    else:
        assert not colab, "a Colab button on a page that is no notebook"

    # Language switch: the same page in the other edition.
    if not redirect and english_path != "search.html" and english_path != "genindex.html":
        other = english_path if chinese else f"{ZH}/{page_path}"
        assert base_url + other in hrefs, f"no language switch to {other}"

    # The Chinese edition reads in Chinese: no paragraph, list item, heading or
    # caption of the article is English (code, maths, outputs, references aside).
    if chinese and english_path.startswith("book/") and "bibliography" not in english_path:
        blocks: list[str] = page.evaluate(ARTICLE_BLOCKS_JS)
        english = [b for b in blocks if not CJK.search(b) and len(LATIN_WORD.findall(b)) >= 5]
        assert not english, f"untranslated text on {page_path}: {english[:3]}"

    # Internal links: the target file and, where there is one, the anchor exist.
    dead = []
    for href in hrefs:
        if not href.startswith(base_url):
            continue
        url, fragment = urldefrag(href)
        fragment = unquote(fragment)
        rel = unquote(url[len(base_url) :]) or "index.html"
        target = SITE / rel
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            dead.append(href)
        elif fragment and target.suffix == ".html" and not anchor_exists(target, fragment):
            dead.append(href)
    assert not dead, f"broken internal links: {sorted(set(dead))}"
    assert not errors, f"JavaScript errors: {errors}"

    if page_path == "book/how_to_use.html":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "how_to_use.png"), full_page=True)
    page.close()


def built_pdf() -> bytes:
    if not (SITE / "index.html").is_file():
        unavailable("the site is not built: run `make book` first")
    if not PDF.is_file():
        unavailable("the PDF is not built: `make book` prints it where Chromium is installed "
                    "(`make pdf` prints it alone)")
    return PDF.read_bytes()


def test_pdf_holds_every_page_of_the_book() -> None:
    pdf = built_pdf()
    pages = toc_pages()
    htmls = [SITE / p for p in pages]
    missing = [p for p, h in zip(pages, htmls, strict=True) if not h.is_file()]
    assert not missing, f"pages of _toc.yml not in the site: {missing}"
    assert PDF.stat().st_mtime >= max(h.stat().st_mtime for h in htmls), (
        "book.pdf is older than the site: run `make pdf`"
    )
    # Every page of the site starts a new sheet, and chapters run to several.
    assert page_count(pdf) >= 3 * len(pages)
    assert 'href="../book.pdf"' in (SITE / "book" / "intro.html").read_text(encoding="utf-8")


def test_chinese_edition_has_its_pdf() -> None:
    """The Chinese intro links ../book.pdf too: the Chinese edition's own PDF."""
    built_pdf()
    pdf = SITE / ZH / "book.pdf"
    if not pdf.is_file():
        pytest.fail("zh/book.pdf missing: `make book` prints one PDF per edition")
    data = pdf.read_bytes()
    assert page_count(data) >= 3 * len(toc_pages())
    assert 'href="../book.pdf"' in (SITE / ZH / "book" / "intro.html").read_text(encoding="utf-8")
    families = cjk_fonts()
    if not families:  # .ci/run installs Debian's fonts-noto-cjk, so under CI this fails
        unavailable("no Chinese font installed (`fc-list :lang=zh` is empty): the Chinese "
                    "PDF shows boxes; install Debian's fonts-noto-cjk")
    assert uses_cjk_font(data, families), f"none of {families} is embedded in zh/book.pdf"


def test_pdf_prints_the_chinese_terms() -> None:
    pdf = built_pdf()
    families = cjk_fonts()
    if not families:  # .ci/run installs Debian's fonts-noto-cjk, so under CI this fails
        unavailable("no Chinese font installed (`fc-list :lang=zh` is empty): the PDF "
                    "shows the Chinese terms as boxes; install Debian's fonts-noto-cjk")
    assert uses_cjk_font(pdf, families), f"none of {families} is embedded in book.pdf"


def test_chinese_text_renders_in_a_chinese_font(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    """The Chinese edition's title and the English pages' Chinese terms are drawn with
    glyphs of an installed Chinese font, not as empty boxes (Chromium's own account of
    the fonts it used, through the DevTools protocol)."""
    families = cjk_fonts()
    if not families:
        unavailable("no Chinese font installed (`fc-list :lang=zh` is empty): install "
                    "Debian's fonts-noto-cjk")
    wanted = {re.sub(r"[^a-z0-9]", "", f.lower()) for f in families}
    probe = """() => {
      const el = Array.from(document.querySelectorAll('article p, article dt, article li'))
        .find(e => /[\\u4e00-\\u9fff]/.test(e.textContent));
      if (el) el.id = 'cjk-probe';
      return el ? el.textContent : null;
    }"""
    for path in (f"{ZH}/book/intro.html", "book/glossary.html"):
        page = browser.new_page()
        page.goto(base_url + path, wait_until="load")
        assert page.evaluate(probe), f"no Chinese text on {path}"
        cdp = page.context.new_cdp_session(page)
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "#cjk-probe"})["nodeId"]
        used = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        chinese = [f for f in used if f["glyphCount"] > 0 and any(
            re.sub(r"[^a-z0-9]", "", f["familyName"].lower()).startswith(w) for w in wanted)]
        assert chinese, f"{path}: Chinese text drawn with {used}, no Chinese font"
        page.close()
