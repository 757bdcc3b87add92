"""The chapter slide decks (book/_ext/slides.py, after `make book`), both editions, in Chromium
at 1280×720, offline: no slide overflows, maths typeset, interactive figures drawn; a screenshot
per deck to `_build/screenshots/`. Under CI it must run; elsewhere it may skip, saying why."""

from __future__ import annotations

import pytest
from common import ROOT, SITE, built
from playwright.sync_api import Browser

pytestmark = pytest.mark.site

CHAPTERS = sorted({int(p.name[2]) for p in (ROOT / "book").glob("ch[0-9]_[0-9]_*.ipynb")})
EDITIONS = {"en": "", "zh": "zh/"}
SHOTS = ROOT / "_build" / "screenshots"
# Every slide in turn: its size against the deck's, raw TeX left in its visible text
# (notes and code aside), MathJax errors, interactive figures that have not drawn.
WALK_JS = """async () => {
  await MathJax.startup.promise;
  const {width, height} = Reveal.getConfig(), problems = [], figures = [];
  for (const [i, slide] of Reveal.getSlides().entries()) {
    const {h, v} = Reveal.getIndices(slide);
    Reveal.slide(h, v);
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    const say = what => problems.push(`slide ${i + 1}: ${what}`);
    if (slide.scrollHeight > height || slide.scrollWidth > width)
      say(`${slide.scrollWidth}x${slide.scrollHeight} px overflows ${width}x${height}`);
    slide.querySelectorAll('pre').forEach(p => {
      if (p.scrollWidth > p.clientWidth + 1) say('a code line wider than the slide'); });
    const text = slide.cloneNode(true);
    text.querySelectorAll('pre, code, script, style, mjx-container, aside.notes')
      .forEach(x => x.remove());
    const raw = text.textContent.match(/\\$\\$|\\\\\\(|\\\\\\[|\\$[^$\\s][^$]*\\$/);
    if (raw) say(`raw TeX ${raw[0].slice(0, 40)}`);
    if (slide.querySelector('mjx-merror')) say('a MathJax error');
    slide.querySelectorAll('.pr-explore').forEach(f => {
      figures.push(i);
      if (f.prState === undefined) say(`interactive figure ${f.id} did not draw`); });
  }
  const shown = figures[0] ?? Reveal.getSlides().findIndex(s => s.querySelector('img'));
  return {problems, count: Reveal.getTotalSlides(), shown: Math.max(shown, 0)};
}"""


@pytest.mark.parametrize("chapter", CHAPTERS)
@pytest.mark.parametrize("edition", EDITIONS)
def test_deck_fits_typesets_and_works_offline(browser: Browser, base_url: str, edition: str,
                                              chapter: int) -> None:
    prefix = EDITIONS[edition]
    built(SITE / prefix / "slides" / f"ch{chapter}.html")
    first = min((ROOT / "book").glob(f"ch{chapter}_*.ipynb")).with_suffix(".html").name
    html = (SITE / prefix / "book" / first).read_text(encoding="utf-8")
    assert f'href="../slides/ch{chapter}.html"' in html, f"{first} does not link its deck"
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    elsewhere: list[str] = []
    errors: list[str] = []
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base_url)
               else (elsewhere.append(r.request.url), r.abort()))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base_url}{prefix}slides/ch{chapter}.html", wait_until="load")
    assert page.evaluate("document.documentElement.lang") == edition
    result = page.evaluate(WALK_JS)
    page.evaluate("i => Reveal.slide(Reveal.getIndices(Reveal.getSlides()[i]).h)", result["shown"])
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"slides-{edition}-ch{chapter}.png")
    page.close()
    assert result["count"] >= 10 and CHAPTERS == [1, 2, 3], "three decks of ten slides or more"
    assert not result["problems"], "\n".join(result["problems"])
    assert not elsewhere, f"requests to other hosts: {elsewhere}"
    assert not errors, f"JavaScript errors: {errors}"
