"""The Chinese edition (tools/i18n.py): complete catalogues, kept roles, both editions built."""

import json
import re
from pathlib import Path

import editions  # book/_ext, Sphinx's extension folder (pyproject's pythonpath)
import pytest
from babel.messages.catalog import Catalog
from common import CJK, SITE, built, glossary_term_lines, glossary_terms

from tools import i18n

CATALOGUES = sorted(i18n.CATALOGUES.rglob("*.po"))
# One Chinese rendering per glossary term, in every catalogue: its headword, or a variant
# reviewed here; the same for a few words the book uses often that are no glossary entry.
HOUSE_TERMS = {"expanding path": "扩展路径", "reference label": "参考标签",
               "ground truth": "参考标签", "intensity": "灰度", "intensities": "灰度",
               "this page": "本节", "lecture": "讲义", "weight sharing": "参数共享"}
TERM_VARIANTS = {
    "u-net": {"U-Net"},  # the name stays as is in Chinese text; 3.2 glosses it once (U 形网络)
    "normative model": {"常模建模"},  # 1.5 links the method, *normative modelling*
    # The closing page quotes the lecture's concluding sentences as written.
    "multi-layer perceptron": {"多层感知机"}, "bayes' rule": {"贝叶斯定理"},
    "non-parametric model": {"非参数模型"}}
# Also everyday words, or another entry's short form (a CNN's kernel, 卷积核; 核矩阵; "a prior"):
# checked only where a page links them.
LINKED_ONLY = {"kernel", "prior", "posterior"}
# Roles are kept; code and maths, which no one translates, are blanked.
LITERAL = re.compile(r"(\{[\w:]+\}`[^`]*`)|``.*?``|`[^`]*`|\$\$.+?\$\$|\$[^$]+\$", re.S)


def term_renderings(messages: list[tuple[str, str, str]]) -> list[str]:
    """Where a catalogue renders a glossary term otherwise than by its Chinese headword:
    a {term} link with other text, or a message naming the English term whose translation
    has neither the headword nor a reviewed variant. ``messages``: (page, msgid, msgstr)."""
    chinese = {en.lower(): zh for en, zh in glossary_terms()} | HOUSE_TERMS
    allowed = {term: {zh} | TERM_VARIANTS.get(term, set()) for term, zh in chinese.items()}
    headwords, found = set(glossary_term_lines()), []
    for page, msgid, msgstr in messages:
        if msgid in headwords:
            continue  # the glossary's own headword lines
        for role in i18n.TERM.findall(LITERAL.sub(lambda m: m.group(1) or " ", msgstr)):
            text, target = role.split("<")[0].strip(), i18n.term_target(role)
            if target in chinese and text not in allowed[target]:
                found.append(f"{page}: {{term}} link to {target!r} reads {text!r}")
        english = i18n.TERM.sub(lambda m: m.group(1).split("<")[0],
                                LITERAL.sub(lambda m: m.group(1) or " ", msgid))
        for term in sorted(chinese, key=len, reverse=True):  # "convolution kernel" before "kernel"
            english, named = re.subn(rf"(?i)\b{re.escape(term)}(?:e?s)?\b", " ", english)
            if named and term not in LINKED_ONLY and not any(zh in msgstr for zh in allowed[term]):
                found.append(f"{page}: {term!r} without {chinese[term]!r} in {msgstr[:50]!r}")
    return found


def test_one_catalogue_per_page_following_the_english_text() -> None:
    """An English edit without `make translations` leaves the catalogues behind: fail."""
    templates = i18n.templates()  # every page of book/ is in the toc (tests/test_project)
    assert sorted(templates) == CATALOGUES and len(CATALOGUES) > 10
    ids = {path: {m.id for m in i18n.read(path) if m.id} for pair in templates.items()
           for path in pair}
    stale = [f"{po.name}: {len(ids[pot] - ids[po])} new, {len(ids[po] - ids[pot])} gone"
             for po, pot in templates.items() if ids[po] != ids[pot]]
    assert not stale, f"run `make translations`: {stale}"


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.stem)
def test_catalogue_is_translated_keeping_roles_glossary_links_and_terms(po: Path) -> None:
    catalog, terms = i18n.read(po), {term.lower() for term in glossary_term_lines()}
    untranslated, fuzzy = i18n.pending(catalog)
    found = [f"untranslated or fuzzy (tools.i18n status): {t}" for t in [fuzzy + untranslated] if t]
    done = [m for m in catalog if m.id and m.string]
    found += [f"the Chinese recap is a message: {m.id[:40]}" for m in done if "小结" in m.id]
    found += [f"{m.id[:60]!r}: {problem}" for m in done
              for problem in i18n.problems(str(m.id), str(m.string))]
    found += [f"{{term}} role to no glossary entry: {target}" for m in done
              for target in map(i18n.term_target, i18n.TERM.findall(str(m.string)))
              if target not in terms]
    found += term_renderings([(po.stem, str(m.id), str(m.string)) for m in done if not m.fuzzy])
    assert not found, "\n".join(found[:10])


def test_the_checks_find_what_they_should_and_glue_roles_go_by_path() -> None:
    msgid = ("Accuracy {glue:text}`acc:.3f` for $p(y \\mid x)$ {cite}`bishop2006`, see "
             "{doc}`page 3.5 <ch3_5_missing>` and {doc}`how_to_use`.")
    good = ("准确率 {glue:text}`acc:.3f`，$p(y \\mid x)$ {cite}`bishop2006`，见 "
            "{doc}`第 3.5 节 <ch3_5_missing>` 和 {doc}`how_to_use`。")
    assert i18n.problems(msgid, good) == []  # a page link's text is translated, not its target
    for old, new in [("acc:.3f", "acc:.2f"), ("y \\mid x", "y|x"), (" {cite}`bishop2006`", ""),
                     ("<ch3_5_missing>", "<ch3_4>")]:
        assert i18n.problems(msgid, good.replace(old, new)), new
    text = "{glue:text}`acc:.3f`，{glue:text}`name`，{glue}`fig`，{glue:text}`a.ipynb::b:.1f`"
    assert i18n.glue_by_path(text, "p.ipynb") == (
        "{glue:text}`p.ipynb::acc:.3f`，{glue:text}`p.ipynb::name:s`，{glue}`p.ipynb::fig`，"
        "{glue:text}`a.ipynb::b:.1f`")
    assert i18n.term_target("判别模型 <Discriminative model>") == "discriminative model"
    assert i18n.term_target("Perceptron") == "perceptron"
    for msgid, msgstr, fine in [  # term_renderings: one Chinese rendering per term
            ("The {term}`kernel` of a GP.", "高斯过程的{term}`核函数 <kernel>`。", True),
            ("The {term}`kernel` of a GP.", "高斯过程的{term}`核 <kernel>`。", False),
            ("One hidden layer.", "一个隐藏层。", True), ("One hidden layer.", "一个隐层。", False),
            ("Two hidden layers and a convolution kernel.", "两个隐藏层和一个卷积核。", True),
            ("This page follows the lecture.", "本页沿用讲义。", False),  # 本节, the book's choice
            ("Set `hidden_layer` in code and $\\text{prior}$.", "在代码中设置。", True)]:
        assert (term_renderings([("page", msgid, msgstr)]) == []) == fine, msgstr


def test_catalogues_read_back_as_written_and_pending_finds_what_is_left(tmp_path: Path) -> None:
    catalog = Catalog(locale="zh_CN")
    catalog.add("New text\nover lines, 40% of it", "", flags=["fuzzy"],
                previous_id="Old text\nover lines")
    long_old = " ".join(f"word{i}," for i in range(40)) + " with $\\sigma$ and a quote \" in it."
    catalog.add("A new paragraph.", "旧译文。", flags=["fuzzy"], previous_id=long_old)
    catalog.add("$$\nx = 1\n$$", "$$\nx = 1\n$$")
    catalog.add("Empty", "")
    i18n.write(catalog, tmp_path / "page.po")
    text = (tmp_path / "page.po").read_text(encoding="utf-8")
    assert "python-format" not in text and "brace-format" not in text
    assert "#| msgid \"Old text over lines\"" in text
    back = i18n.read(tmp_path / "page.po")
    assert [(m.id, m.string, m.fuzzy) for m in back if m.id] == [
        ("New text\nover lines, 40% of it", "", True), ("A new paragraph.", "旧译文。", True),
        ("$$\nx = 1\n$$", "$$\nx = 1\n$$", False), ("Empty", "", False)]
    assert back["A new paragraph."].previous_id == [long_old.strip()]
    assert not any(m.user_comments for m in back)
    assert i18n.pending(back) == (["Empty"], ["New text\nover lines, 40% of it",
                                              "A new paragraph."])
    i18n.write(back, tmp_path / "again.po")
    assert (tmp_path / "again.po").read_text(encoding="utf-8") == text


def test_chinese_config_and_the_links_between_editions_and_to_the_reader_branch() -> None:
    config = i18n.merged_config()
    assert config["sphinx"]["config"]["language"] == "zh_CN"
    assert config["sphinx"]["config"]["locale_dirs"] == ["book/locales"]  # kept from _config.yml
    assert CJK.search(config["title"])
    assert all(Path(p).is_absolute() for p in config["sphinx"]["local_extensions"].values())
    assert editions.other_edition_url("book/ch1_1", "en") == "../zh/book/ch1_1.html"
    assert editions.other_edition_url("book/ch1_1", "zh_CN") == "../../book/ch1_1.html"
    assert editions.other_edition_url("index", None) == "zh/index.html"
    colab = "https://colab.research.google.com/github/o/r/blob/main/book/a.ipynb"
    assert editions.swap_branch(colab, "main", "reader") == colab.replace("/main/", "/reader/")
    binder = "https://mybinder.org/v2/gh/o/r/main?urlpath=tree/book/a.ipynb"
    assert "/reader?urlpath=" in editions.swap_branch(binder, "main", "reader")


@pytest.mark.site
def test_chinese_site_has_every_page_chinese_captions_glossary_terms_summary_and_search() -> None:
    """The English pages' Chinese recap (a **小结** paragraph or 小结 section, in no catalogue) is
    dropped where the Summary is Chinese; Sphinx splits Chinese words for search with jieba."""
    zh = built(SITE / "zh" / "searchindex.js").parent
    html = {p.name: p.read_text(encoding="utf-8") for p in (zh / "book").glob("*.html")}
    assert html and set(html) == {p.name for p in (SITE / "book").glob("*.html")}
    assert 'lang="zh-CN"' in html["intro.html"] or "lang=\"zh_CN\"" in html["intro.html"]
    captions = re.findall(r'caption-text">([^<]*)<', html["intro.html"])
    assert captions and all(CJK.search(c) for c in captions), captions
    chinese_terms = [chinese.strip() for _, chinese in glossary_terms()]
    text = "".join(re.sub(r"<[^>]+>", "", page) for name, page in html.items()
                   if name != "glossary.html")
    unused = [term for term in chinese_terms if term not in text]
    assert len(chinese_terms) > 30 and not unused, f"glossary terms no Chinese page uses: {unused}"
    twice = [name for name, page in html.items() if name.startswith("ch") and (
        "<strong>小结" in page or len(re.findall(r"<h[23][^>]*>小结", page)) > 1)]
    assert not twice, f"Chinese pages with the summary twice: {twice}"
    english = [(SITE / "book" / f"{page}.html").read_text(encoding="utf-8")
               for page in ("ch1_1_generative_discriminative", "ch1_4_scalable_gps")]
    assert "<strong>小结</strong>" in english[0] and re.search(r"<h3>小结", english[1]), (
        "the English edition keeps its Chinese recap, as a paragraph and as a section")
    index = (zh / "searchindex.js").read_text(encoding="utf-8")
    terms = json.loads(index[index.index("(") + 1 : index.rindex(")")])["terms"]
    assert len([t for t in terms if CJK.search(t)]) > 1000
    assert {"卷积", "分割", "判别"} <= set(terms)
