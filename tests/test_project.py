"""The frame of the book: environment files, configuration, table of contents, commands."""

import json
import os
import re
import tomllib

import yaml
from common import CJK, ROOT, glossary_terms
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tools import TORCH_DEFAULT, toc_files


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


CONFIG, MAKEFILE = yaml.safe_load(read("_config.yml")), read("Makefile")
PYPROJECT = tomllib.loads(read("pyproject.toml"))


def test_environment_yml_installs_the_package_with_every_extra() -> None:
    # It installs pr_utils with every extra, as `make install` does, so pyproject.toml's lists
    # are the only ones; its Python is one pyproject.toml allows, the one mypy and ruff check.
    env = yaml.safe_load(read("environment.yml"))["dependencies"]
    (pip,) = [d["pip"] for d in env if isinstance(d, dict) and "pip" in d]
    installed = re.fullmatch(r"-e \.\[([\w,-]+)\]", pip[0])
    assert len(pip) == 1 and installed, f"environment.yml must install `-e .[extras]`: {pip}"
    assert set(installed[1].split(",")) == set(PYPROJECT["project"]["optional-dependencies"])
    assert f'-e ".[{installed[1]}]"' in MAKEFILE, "make install installs the same extras"
    (python,) = [d.split("=", 1)[1] for d in env if isinstance(d, str) and d.startswith("python=")]
    assert Version(python) in SpecifierSet(PYPROJECT["project"]["requires-python"]), python
    assert python == PYPROJECT["tool"]["mypy"]["python_version"], python
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py" + python.replace(".", "")


def test_every_toc_entry_exists_and_every_page_is_in_the_toc() -> None:
    pages = set()
    for entry in toc_files():
        found = [p for p in (ROOT / f"{entry}.md", ROOT / f"{entry}.ipynb") if p.is_file()]
        assert len(found) == 1, f"{entry}: expected one .md or .ipynb, found {found}"
        pages.add(found[0])
    on_disk = {p for p in (ROOT / "book").rglob("*") if p.suffix in {".md", ".ipynb"}
               and ".ipynb_checkpoints" not in p.parts}
    assert on_disk == pages, f"not in _toc.yml: {sorted(map(str, on_disk - pages))}"


def test_book_config_guards_the_known_traps_and_declares_licences_and_launch_buttons() -> None:
    assert CONFIG["only_build_toc_files"] is True
    execute = CONFIG["execute"]
    assert execute["execute_notebooks"] == "off", "the site renders what nbval verified"
    assert execute["raise_on_error"] is True and execute["allow_errors"] is False
    assert execute["timeout"] >= 300, "the 30 s default is too short"
    assert CONFIG["repository"]["url"].startswith("https://github.com/")
    assert CONFIG["repository"]["path_to_book"] == "", "_config.yml sits at the repository root"
    assert "sphinx-mathjax-offline" in CONFIG["sphinx"]["extra_extensions"]
    buttons = CONFIG["launch_buttons"]  # jupyterhub_url is empty until an instructor sets one
    assert buttons["colab_url"] == "https://colab.research.google.com"
    assert buttons["binderhub_url"].startswith("https://") and "jupyterhub_url" in buttons
    # Code MIT, text CC BY-SA 4.0: the files, the package metadata and the site footer agree.
    assert "MIT License" in read("LICENSE")
    assert "Attribution-ShareAlike 4.0 International" in read("LICENSE-CC-BY-SA-4.0")
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    footer = CONFIG["html"]["extra_footer"]
    assert "CC BY-SA 4.0" in footer and "MIT" in footer, footer


def test_readme_ci_and_github_workflows_run_the_same_make_targets() -> None:
    readme = read("README.md")
    for target in ("book", "test"):
        assert f"make {target}" in readme
        assert re.search(rf"^{target}:", MAKEFILE, re.M), f"Makefile has no {target} target"
    assert re.search(r"^\s*make test\b", read(".ci/run"), re.M), ".ci/run runs `make test`"
    nbval = re.search(r"^nbval:.*\n((?:\t.*\n)+)", MAKEFILE, re.M)
    assert nbval and "tools.portability threads1+offline" in nbval[1], (
        "make test runs the notebooks with one thread and no network")
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
    assert "-W -n --keep-going" in MAKEFILE, "Sphinx warnings are errors"
    # torch goes in first, or pip pulls a CUDA build; the tools install the same torch:
    # the Makefile exports its TORCH, whose default is theirs.
    assert MAKEFILE.index("$(TORCH)") < MAKEFILE.index('-e ".[book,test]"')
    assert re.search(rf"^TORCH \?= {re.escape(TORCH_DEFAULT)}$", MAKEFILE, re.M)
    assert re.search(r"^export TORCH\b", MAKEFILE, re.M)
    # GitHub runs what every other CI runs (.ci/run) and publishes from that build;
    # a weekly job runs the newest and oldest versions, so a release is caught early.
    book = yaml.safe_load(read(".github/workflows/book.yml"))
    steps = [s for job in book["jobs"].values() for s in job.get("steps", [])]
    runs = [s.get("run", "") for s in steps]
    assert any(re.search(r"\bbash \.ci/run$", r) for r in runs), "the workflow runs .ci/run"
    assert not any(re.search(r"\bmake (test|book)\b", r) for r in runs), "no sequence of its own"
    assert any(s.get("with", {}).get("path") == "_build/html" for s in steps)
    weekly = read(".github/workflows/weekly.yml")
    assert "schedule" in yaml.safe_load(weekly)[True]  # YAML 1.1 reads the key `on` as True
    assert re.search(r"config: \[newest, oldest\]", weekly)
    assert "make nbval-portable CONFIGS=${{ matrix.config }}" in weekly


def test_glossary_chinese_terms_are_used_in_the_book() -> None:
    # The glossary collects the lecture's terms as the pages introduce them, so each
    # Chinese term must appear beside its first English use on some page.
    text = read("book/intro.md") + "\n" + "\n".join(
        "".join(c["source"]) for path in sorted((ROOT / "book").glob("*.ipynb"))
        for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
        if c["cell_type"] == "markdown")
    terms = glossary_terms()
    assert len(terms) >= 20 and all(CJK.search(zh) for _, zh in terms), terms
    missing = [f"{en}: {variant}" for en, zh in terms
               for variant in re.split(r"\s*[/、，,;；]\s*", re.sub(r"[（(].*?[)）]", "", zh))
               if variant and variant not in text]
    assert not missing, f"glossary terms used on no page: {missing}"
