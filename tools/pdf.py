"""The whole book as one PDF, printed from the built site by headless Chromium.

    python -m tools.pdf --site _build/html [--out FILE.pdf] [--skip-without-chromium]

Joins the articles of the ``_toc.yml`` pages into the first page, so that the site's CSS,
MathJax and images apply, and prints it to ``SITE/book.pdf`` (README, *PDF*). Jupyter Book's
``pdfhtml`` builder is not used: it downloads a Chromium at run time, writes over
``_build/html``, and myst-nb's hidden code cells break its ``singlehtml`` build.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from tools import ROOT, TOC, toc_files

SITE = ROOT / "_build" / "html"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FOOTER = ('<div style="font-size:8px;width:100%;text-align:center;">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')

# Print rules on top of the theme's: every page title shows (the theme hides an article's first
# <h1> in print), each page starts a new sheet, the first page's print-only title and TOC go.
PRINT_CSS = """@media print {
  #jb-print-docs-body, details > summary { display: none !important; }
  .bd-main .bd-content .bd-article h1:first-of-type { display: block !important; }
  .pdf-page + .pdf-page { break-before: page; }
  .bd-main .bd-content { margin-left: 0 !important; }
  pre { white-space: pre-wrap !important; }
}"""

# In the browser: move each page's article into the first page's, with ids made
# unique per page and links between pages turned into links inside the document.
JOIN_JS = """async ({root, pages}) => {
  const article = document.querySelector('article.bd-article');
  const stem = p => p.replace(/\\.html$/, '').replace(/[^A-Za-z0-9_-]/g, '-');
  const included = new Map(pages.map(p => [new URL(p, root).pathname, stem(p)]));
  const wrappers = [];
  for (const [i, p] of pages.entries()) {
    const base = new URL(p, root);
    let source = article;
    if (i > 0) {
      const response = await fetch(base);
      if (!response.ok) throw new Error(p + ': HTTP ' + response.status);
      const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
      source = doc.querySelector('article.bd-article');
    }
    if (!source) throw new Error('no article.bd-article in ' + p);
    const wrapper = Object.assign(document.createElement('div'), {className: 'pdf-page'});
    wrapper.id = stem(p);
    wrapper.append(...Array.from(source.childNodes).map(n => document.adoptNode(n)));
    for (const el of wrapper.querySelectorAll('[id]')) el.id = stem(p) + '--' + el.id;
    for (const a of wrapper.querySelectorAll('a[href]')) {
      const url = new URL(a.getAttribute('href'), base);
      if (url.origin !== location.origin) continue;
      const target = included.get(url.pathname);
      if (target === undefined) { a.removeAttribute('href'); continue; }
      const fragment = decodeURIComponent(url.hash.slice(1));
      a.setAttribute('href', '#' + (fragment ? target + '--' + fragment : target));
    }
    for (const img of wrapper.querySelectorAll('img'))
      Object.assign(img, {loading: 'eager', src: new URL(img.getAttribute('src'), base).href});
    for (const d of wrapper.querySelectorAll('details.hide.above-input')) d.remove();
    for (const d of wrapper.querySelectorAll('details')) d.open = true;
    wrappers.push(wrapper);
  }
  article.replaceChildren(...wrappers);
  if (window.MathJax && MathJax.startup)
    await MathJax.startup.promise.then(() => MathJax.typesetPromise(wrappers.slice(1)));
  await Promise.all(Array.from(document.images).map(img => img.complete ? null :
    new Promise(resolve => { img.onload = img.onerror = resolve; })));
  await document.fonts.ready;
  return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))
    .map(i => i.src);
}"""


def chromium_path() -> str | None:
    """The system Chromium (also tests/test_site.py's): playwright downloads no browser."""
    names = ("chromium", "chromium-browser", "google-chrome")
    return next(filter(None, map(shutil.which, names)), None)


def toc_pages(toc: Path = TOC) -> list[str]:
    """The book's pages in reading order, as site paths (``book/intro.html``)."""
    return [re.sub(r"\.(md|ipynb)$", "", f) + ".html" for f in toc_files(toc)]


def page_count(pdf: bytes) -> int:
    """Pages of a PDF that Chromium wrote (it writes no compressed object streams)."""
    if not pdf.startswith(b"%PDF-"):
        raise ValueError("not a PDF file")
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def font_key(family: str) -> str:
    """A font name to compare: ``Noto Sans CJK SC`` and ``NotoSansCJKsc-Regular`` agree."""
    return re.sub(r"[^a-z0-9]", "", family.lower())


def uses_cjk_font(pdf: bytes, families: list[str]) -> bool:
    """Whether one of these font families is embedded in the PDF, named by ``/BaseFont`` or
    (Chromium's Type 3 CJK fonts) only by ``/FontName``, less the subset prefix ``ABCDEF+``."""
    names = re.findall(rb"/(?:BaseFont|FontName)\s*/(?:[A-Z]{6}\+)?([^\s/<>\[\]()]+)", pdf)
    embedded = {font_key(n.decode("latin-1")) for n in names}
    return any(w and e.startswith(w) for w in map(font_key, families) for e in embedded)


def cjk_fonts() -> list[str] | None:
    """Families of the installed Chinese fonts; None where fc-list is missing."""
    if shutil.which("fc-list") is None:
        return None
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True)
    return sorted({f.strip() for line in out.stdout.splitlines() for f in line.split(",")} - {""})


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve a directory on a free local port (MathJax and fetch() need http)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()


@contextmanager
def chromium(executable: str | None = None) -> Iterator[Browser]:
    """The system Chromium, headless, driven by playwright."""
    executable = executable or chromium_path()
    if executable is None:
        raise RuntimeError("Chromium not found: install Debian's `chromium` package")
    with sync_playwright() as p:
        yield p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)  # closed on exit


def print_pages(site: Path, pages: Sequence[str], out: Path, executable: str | None = None,
                timeout_s: float = 300) -> int:
    """Join ``pages`` of the built ``site`` into one document, print it to ``out``; returns
    the number of pages of the PDF."""
    if missing := [p for p in pages if not (site / p).is_file()]:
        raise FileNotFoundError(f"not in {site}: {missing} (run `make book` first)")
    if len(folders := {str(Path(p).parent) for p in pages}) != 1:
        raise ValueError(f"no pages to print, or not in one folder: {sorted(folders)}")
    with chromium(executable) as browser, serve(site) as base_url:
        page = browser.new_page()
        page.set_default_timeout(timeout_s * 1000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(base_url + pages[0], wait_until="load")
        page.add_style_tag(content=PRINT_CSS)
        broken = page.evaluate(JOIN_JS, {"root": base_url, "pages": list(pages)})
        if broken or errors:
            raise RuntimeError(f"images that did not load: {broken}; JavaScript errors: {errors}")
        page.emulate_media(media="print")
        page.pdf(path=str(out), format="A4", scale=0.8, print_background=True, outline=True,
                 tagged=True, display_header_footer=True, header_template="<span></span>",
                 footer_template=FOOTER,  # scale: 16 px at 80 %, a book's type; outline: bookmarks
                 margin={"top": "18mm", "bottom": "18mm", "left": "15mm", "right": "15mm"})
    return page_count(out.read_bytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=SITE, help="the built site (_build/html)")
    parser.add_argument("--out", type=Path, default=None, help="the PDF (SITE/book.pdf)")
    parser.add_argument("--skip-without-chromium", action="store_true",
                        help="say so and succeed where Chromium is not installed (`make book`)")
    args = parser.parse_args(argv)
    out = args.out or args.site / "book.pdf"
    if args.skip_without_chromium and chromium_path() is None:
        print("PDF skipped: Chromium not found (install Debian's `chromium` package)")
        return 0
    start = time.perf_counter()
    n = print_pages(args.site, toc_pages(), out)
    print(f"{out}: {n} pages in {time.perf_counter() - start:.0f} s")
    families = cjk_fonts()
    if families == []:
        print("warning: no Chinese font installed (`fc-list :lang=zh` is empty), so the "
              "Chinese terms print as boxes; Debian/Ubuntu: apt-get install fonts-noto-cjk",
              file=sys.stderr)
    elif families and not uses_cjk_font(out.read_bytes(), families):
        print(f"warning: none of the Chinese fonts {families} is in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
