"""The Chinese edition (tools/i18n.py): complete catalogues, kept roles, both editions built."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import editions  # book/_ext, Sphinx's extension folder (pyproject's pythonpath)
import pytest
from babel.messages.catalog import Catalog
from common import CJK, ROOT, SITE, glossary_term_lines, glossary_terms, unavailable

from tools import i18n

CATALOGUES = sorted(i18n.CATALOGUES.rglob("*.po"))


def test_one_catalogue_per_page_of_the_book() -> None:
    pages = {p.relative_to(ROOT).with_suffix("") for p in (ROOT / "book").glob("*")
             if p.suffix in {".ipynb", ".md"}}
    catalogued = {p.relative_to(i18n.CATALOGUES).with_suffix("") for p in CATALOGUES}
    assert catalogued == pages


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.stem)
def test_every_message_is_translated(po: Path) -> None:
    untranslated, fuzzy = i18n.pending(i18n.read(po))
    assert not untranslated and not fuzzy, (
        f"{len(untranslated)} untranslated, {len(fuzzy)} fuzzy in {po.name} "
        f"(`python -m tools.i18n status` lists them): {(fuzzy + untranslated)[:3]}")


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.stem)
def test_translations_keep_glued_numbers_citations_and_maths(po: Path) -> None:
    found = [f"{m.id[:60]!r}: {problem}" for m in i18n.read(po) if m.id and m.string
             for problem in i18n.problems(str(m.id), str(m.string))]
    assert not found, "\n".join(found[:5])


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.stem)
def test_glossary_links_survive_translation(po: Path) -> None:
    """A translated {term} role must point at an entry that exists (text <target>)."""
    terms = {term.lower() for term in glossary_term_lines()}
    missing = [target for m in i18n.read(po) if m.string
               for target in map(i18n.term_target, i18n.TERM.findall(str(m.string)))
               if target not in terms]
    assert not missing, f"{{term}} roles to no glossary entry: {missing}"


def test_catalogues_follow_the_english_text(tmp_path: Path) -> None:
    """An English edit without `make translations` leaves the catalogues behind: fail."""
    templates = i18n.extract()
    stale = []
    for template_path in sorted(templates.rglob("*.pot")):
        po = i18n.catalogue_for(template_path, templates)
        if template_path.name == "sphinx.pot" or not po.parent.is_dir():
            continue
        wanted = {m.id for m in i18n.read(template_path) if m.id}
        have = {m.id for m in i18n.read(po) if m.id} if po.is_file() else set()
        if wanted != have:
            stale.append(f"{po.name}: {len(wanted - have)} new, {len(have - wanted)} gone")
    assert not stale, f"run `make translations`: {stale}"


def test_problems_finds_a_dropped_glue_role_and_changed_maths() -> None:
    msgid = "Accuracy {glue:text}`acc:.3f` for $p(y \\mid x)$ {cite}`bishop2006`."
    good = "准确率 {glue:text}`acc:.3f`，$p(y \\mid x)$ {cite}`bishop2006`。"
    assert i18n.problems(msgid, good) == []
    assert i18n.problems(msgid, "准确率 {glue:text}`acc:.2f`，$p(y \\mid x)$ {cite}`bishop2006`。")
    assert i18n.problems(msgid, "准确率 {glue:text}`acc:.3f`，$p(y|x)$ {cite}`bishop2006`。")
    assert i18n.problems(msgid, "准确率 {glue:text}`acc:.3f`，$p(y \\mid x)$。")


def test_page_links_may_translate_their_text_not_their_target() -> None:
    msgid = "See {doc}`page 3.5 <ch3_5_missing>` and {doc}`how_to_use`."
    assert i18n.problems(msgid, "见 {doc}`第 3.5 节 <ch3_5_missing>` 和 {doc}`how_to_use`。") == []
    assert i18n.problems(msgid, "见 {doc}`第 3.5 节 <ch3_4>` 和 {doc}`how_to_use`。")


def test_glue_roles_are_read_by_path_in_translations() -> None:
    text = "{glue:text}`acc:.3f`，{glue:text}`name`，{glue}`fig`，{glue:text}`a.ipynb::b:.1f`"
    assert i18n.glue_by_path(text, "p.ipynb") == (
        "{glue:text}`p.ipynb::acc:.3f`，{glue:text}`p.ipynb::name:s`，{glue}`p.ipynb::fig`，"
        "{glue:text}`a.ipynb::b:.1f`")


def test_pending_reports_empty_and_fuzzy_entries() -> None:
    catalog = Catalog(locale="zh_CN")
    catalog.add("Done", "完成")
    catalog.add("Empty", "")
    catalog.add("Changed", "旧", flags=["fuzzy"])
    assert i18n.pending(catalog) == (["Empty"], ["Changed"])


def test_catalogues_read_back_as_written(tmp_path: Path) -> None:
    catalog = Catalog(locale="zh_CN")
    catalog.add("New text\nover lines, 40% of it", "", flags=["fuzzy"],
                previous_id="Old text\nover lines")
    long_old = " ".join(f"word{i}," for i in range(40)) + " with $\\sigma$ and a quote \" in it."
    catalog.add("A new paragraph.", "旧译文。", flags=["fuzzy"], previous_id=long_old)
    catalog.add("$$\nx = 1\n$$", "$$\nx = 1\n$$")
    po = tmp_path / "page.po"
    i18n.write(catalog, po)
    text = po.read_text(encoding="utf-8")
    assert "python-format" not in text and "brace-format" not in text
    assert "#| msgid \"Old text over lines\"" in text
    back = i18n.read(po)
    assert [(m.id, m.string, m.fuzzy) for m in back if m.id] == [
        ("New text\nover lines, 40% of it", "", True), ("A new paragraph.", "旧译文。", True),
        ("$$\nx = 1\n$$", "$$\nx = 1\n$$", False)]
    assert back["A new paragraph."].previous_id == [long_old.strip()]
    assert not any(m.user_comments for m in back)
    i18n.write(back, tmp_path / "again.po")
    assert (tmp_path / "again.po").read_text(encoding="utf-8") == text


def test_term_target_reads_both_role_forms() -> None:
    assert i18n.term_target("判别模型 <Discriminative model>") == "discriminative model"
    assert i18n.term_target("Perceptron") == "perceptron"


def test_chinese_config_overrides_title_and_language_only_where_asked() -> None:
    config = i18n.merged_config()
    assert config["sphinx"]["config"]["language"] == "zh_CN"
    assert config["sphinx"]["config"]["locale_dirs"] == ["book/locales"]  # kept from _config.yml
    assert CJK.search(config["title"])
    assert all(Path(p).is_absolute() for p in config["sphinx"]["local_extensions"].values())


def test_language_switch_and_launch_links() -> None:
    assert editions.other_edition_url("book/ch1_1", "en") == "../zh/book/ch1_1.html"
    assert editions.other_edition_url("book/ch1_1", "zh_CN") == "../../book/ch1_1.html"
    assert editions.other_edition_url("index", None) == "zh/index.html"
    colab = "https://colab.research.google.com/github/o/r/blob/main/book/a.ipynb"
    assert editions.swap_branch(colab, "main", "reader") == colab.replace("/main/", "/reader/")
    binder = "https://mybinder.org/v2/gh/o/r/main?urlpath=tree/book/a.ipynb"
    assert "/reader?urlpath=" in editions.swap_branch(binder, "main", "reader")


def built_pages(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / "book").glob("*.html")}


@pytest.mark.site
def test_every_page_exists_in_both_editions() -> None:
    if not (SITE / "zh" / "book").is_dir():
        unavailable("the site is not built: run `make book` first")
    english, chinese = built_pages(SITE), built_pages(SITE / "zh")
    assert english and english == chinese
    html = (SITE / "zh" / "book" / "intro.html").read_text(encoding="utf-8")
    assert 'lang="zh-CN"' in html or "lang=\"zh_CN\"" in html


@pytest.mark.site
def test_chinese_pages_use_the_glossarys_chinese_terms() -> None:
    """Each glossary entry's Chinese term appears on some Chinese page besides the glossary."""
    if not (SITE / "zh" / "book").is_dir():
        unavailable("the site is not built: run `make book` first")
    chinese_terms = [zh.strip() for _, zh in glossary_terms()]
    assert len(chinese_terms) > 30
    text = "".join(re.sub(r"<[^>]+>", "", p.read_text(encoding="utf-8"))
                   for p in (SITE / "zh" / "book").glob("*.html") if p.stem != "glossary")
    unused = [term for term in chinese_terms if term not in text]
    assert not unused, f"glossary terms no Chinese page uses: {unused}"


@pytest.mark.site
def test_chinese_pages_summarise_once() -> None:
    """The English pages' Chinese recap (小结) is dropped where the Summary is Chinese."""
    if not (SITE / "zh" / "book").is_dir():
        unavailable("the site is not built: run `make book` first")
    twice = []
    for page in (SITE / "zh" / "book").glob("ch*.html"):
        html = page.read_text(encoding="utf-8")
        headings = len(re.findall(r"<h[23][^>]*>小结", html))
        if "<strong>小结" in html or headings > 1:
            twice.append(page.name)
    assert not twice, f"Chinese pages with the summary twice: {twice}"
    english = (SITE / "book" / "ch1_1_generative_discriminative.html").read_text(encoding="utf-8")
    assert "<strong>小结</strong>" in english, "the English edition keeps its Chinese recap"


@pytest.mark.site
def test_chinese_sidebar_names_the_parts_in_chinese() -> None:
    if not (SITE / "zh" / "book").is_dir():
        unavailable("the site is not built: run `make book` first")
    html = (SITE / "zh" / "book" / "intro.html").read_text(encoding="utf-8")
    captions = re.findall(r'caption-text">([^<]*)<', html)
    assert captions and all(CJK.search(c) for c in captions), captions


@pytest.mark.site
def test_chinese_search_indexes_chinese_words() -> None:
    """Sphinx splits Chinese text into words with jieba; without it, no Chinese is searchable."""
    if not (SITE / "zh" / "searchindex.js").is_file():
        unavailable("the site is not built: run `make book` first")
    index = (SITE / "zh" / "searchindex.js").read_text(encoding="utf-8")
    terms = json.loads(index[index.index("(") + 1 : index.rindex(")")])["terms"]
    chinese = [t for t in terms if CJK.search(t)]
    assert len(chinese) > 1000 and {"卷积", "分割", "判别"} <= set(terms)


# One Chinese rendering per glossary term, in every catalogue: its headword, or a variant
# reviewed here; the same for a few words the book uses often that are no glossary entry.
HOUSE_TERMS = {"expanding path": "扩展路径", "reference label": "参考标签",
               "ground truth": "参考标签", "intensity": "灰度", "intensities": "灰度",
               "this page": "本节", "lecture": "讲义", "weight sharing": "参数共享"}
TERM_VARIANTS = {
    "u-net": {"U-Net"},  # the name stays as is in Chinese text; 3.2 glosses it once (U 形网络)
    "normative model": {"常模建模"},  # 1.5 links the method, *normative modelling*
    # The closing page quotes the lecture's concluding sentences as written.
    "multi-layer perceptron": {"多层感知机"},
    "bayes' rule": {"贝叶斯定理"},
    "non-parametric model": {"非参数模型"},
}
# Also everyday words, or another entry's short form (a CNN's kernel, 卷积核; 核矩阵; "a prior"):
# checked only where a page links them.
LINKED_ONLY = {"kernel", "prior", "posterior"}
# Roles are kept; code and maths, which no one translates, are blanked.
LITERAL = re.compile(r"(\{[\w:]+\}`[^`]*`)|``.*?``|`[^`]*`|\$\$.+?\$\$|\$[^$]+\$", re.S)


def prose(text: str) -> str:
    return LITERAL.sub(lambda m: m.group(1) or " ", text)


def term_renderings(messages: list[tuple[str, str, str]]) -> list[str]:
    """Where a catalogue renders a glossary term otherwise than by its Chinese headword:
    a {term} link with other text, or a message naming the English term whose translation
    has neither the headword nor a reviewed variant. ``messages``: (page, msgid, msgstr)."""
    chinese = {en.lower(): zh for en, zh in glossary_terms()} | HOUSE_TERMS
    headwords = set(glossary_term_lines())

    def allowed(term: str) -> set[str]:
        return {chinese[term]} | TERM_VARIANTS.get(term, set())

    found = []
    for page, msgid, msgstr in messages:
        if msgid in headwords:
            continue  # the glossary's own headword lines
        for role in i18n.TERM.findall(prose(msgstr)):
            text, target = role.split("<")[0].strip(), i18n.term_target(role)
            if target in chinese and text not in allowed(target):
                found.append(f"{page}: {{term}} link to {target!r} reads {text!r}")
        english = i18n.TERM.sub(lambda m: m.group(1).split("<")[0], prose(msgid))
        for term in sorted(chinese, key=len, reverse=True):  # "convolution kernel" before "kernel"
            english, named = re.subn(rf"(?i)\b{re.escape(term)}(?:e?s)?\b", " ", english)
            if named and term not in LINKED_ONLY and not any(zh in msgstr for zh in allowed(term)):
                found.append(f"{page}: {term!r} without {chinese[term]!r} in {msgstr[:50]!r}")
    return found


def catalogue_messages() -> list[tuple[str, str, str]]:
    return [(po.stem, str(m.id), str(m.string)) for po in CATALOGUES for m in i18n.read(po)
            if m.id and m.string and not m.fuzzy]


def test_each_glossary_term_has_one_chinese_rendering() -> None:
    found = term_renderings(catalogue_messages())
    assert not found, "\n".join(found)


def test_term_renderings_finds_a_second_rendering() -> None:
    def check(msgid: str, msgstr: str) -> list[str]:
        return term_renderings([("page", msgid, msgstr)])

    assert check("The {term}`kernel` of a GP.", "高斯过程的{term}`核函数 <kernel>`。") == []
    assert check("The {term}`kernel` of a GP.", "高斯过程的{term}`核 <kernel>`。")
    assert check("One hidden layer.", "一个隐藏层。") == []
    assert check("One hidden layer.", "一个隐层。")
    assert check("Two hidden layers and a convolution kernel.", "两个隐藏层和一个卷积核。") == []
    assert check("This page follows the lecture.", "本页沿用讲义。")  # 本节, the book's choice
    assert check("Set `hidden_layer` in code and $\\text{prior}$.", "在代码中设置。") == []


def test_recap_stays_out_of_the_catalogues_and_the_chinese_page(tmp_path: Path) -> None:
    """The 小结 recap (a paragraph opening with **小结**, a 小结 section under the Summary)
    is no message to translate, is dropped from the Chinese page and kept on the English one."""
    src = tmp_path / "src"
    (src / "locales" / "zh_CN" / "LC_MESSAGES").mkdir(parents=True)
    extensions = str(ROOT / "book" / "_ext")
    (src / "conf.py").write_text(f"import sys\nsys.path.insert(0, {extensions!r})\n"
                                 "extensions = ['editions']\nlocale_dirs = ['locales']\n")
    (src / "index.rst").write_text("Page\n====\n\nText.\n\nSummary\n-------\n\nEnglish.\n\n"
                                   "**小结.** 中文一。\n\n小结\n~~~~\n\n中文二。\n",
                                   encoding="utf-8")
    (src / "locales" / "zh_CN" / "LC_MESSAGES" / "index.po").write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Summary"\nmsgstr "小结"\n\nmsgid "English."\nmsgstr "英文的中文。"\n',
        encoding="utf-8")

    def build(builder: str, *options: str) -> Path:
        out = tmp_path / builder / "-".join(options)
        subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", builder, *options, str(src),
                        str(out)], check=True)
        return out

    messages = (build("gettext") / "index.pot").read_text(encoding="utf-8")
    assert "Summary" in messages and "小结" not in messages and "中文" not in messages
    chinese = (build("html", "-D", "language=zh_CN") / "index.html").read_text(encoding="utf-8")
    assert "英文的中文" in chinese and "中文一" not in chinese and "中文二" not in chinese
    english = (build("html") / "index.html").read_text(encoding="utf-8")
    assert "中文一" in english and "中文二" in english
