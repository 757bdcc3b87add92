"""The frame of the book: environment files, configuration, table of contents, commands."""

import json
import os
import re
import tomllib
from pathlib import Path

import yaml
from common import CJK, glossary_terms
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tools import TORCH_DEFAULT, toc_files

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def test_environment_yml_installs_the_package_with_every_extra() -> None:
    # environment.yml names no package itself: it installs pr_utils with every extra, as
    # `make install` does, so pyproject.toml's lists are the only ones (a new extra goes
    # into both commands). Its Python is one that pyproject.toml allows, the version mypy
    # and ruff check the code for.
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1 and len(pip_lists[0]) == 1, pip_lists
    installed = re.fullmatch(r"-e \.\[([\w,-]+)\]", pip_lists[0][0])
    assert installed, f"environment.yml must install `-e .[extras]`, got {pip_lists[0][0]!r}"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert set(installed.group(1).split(",")) == set(pyproject["project"]["optional-dependencies"])
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f'-e ".[{installed.group(1)}]"' in makefile, "make install installs the same extras"
    (python,) = [d.split("=", 1)[1] for d in env["dependencies"]
                 if isinstance(d, str) and d.startswith("python=")]
    assert Version(python) in SpecifierSet(pyproject["project"]["requires-python"]), python
    assert python == pyproject["tool"]["mypy"]["python_version"], python
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + python.replace(".", "")


def test_every_toc_entry_exists_and_every_page_is_in_the_toc() -> None:
    pages = set()
    for entry in toc_files():
        found = [p for p in (ROOT / f"{entry}.md", ROOT / f"{entry}.ipynb") if p.is_file()]
        assert len(found) == 1, f"{entry}: expected one .md or .ipynb, found {found}"
        pages.add(found[0])
    on_disk = {p for p in (ROOT / "book").rglob("*") if p.suffix in {".md", ".ipynb"}}
    on_disk = {p for p in on_disk if ".ipynb_checkpoints" not in p.parts}
    assert on_disk == pages, f"not in _toc.yml: {sorted(map(str, on_disk - pages))}"


def test_book_config_guards_the_known_traps() -> None:
    assert CONFIG["only_build_toc_files"] is True
    execute = CONFIG["execute"]
    assert execute["execute_notebooks"] == "off", "the site renders what nbval verified"
    assert execute["raise_on_error"] is True and execute["allow_errors"] is False
    assert execute["timeout"] >= 300, "the 30 s default is too short"
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["repository"]["url"].startswith("https://github.com/")
    assert CONFIG["repository"]["path_to_book"] == "", "_config.yml sits at the repository root"
    assert "sphinx-mathjax-offline" in CONFIG["sphinx"]["extra_extensions"]


def test_readme_commands_are_the_make_targets_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for target in ("book", "test"):
        assert f"make {target}" in readme
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no {target} target"
    assert re.search(r"^\s*make test\b", ci, re.M), ".ci/run must run the README's test command"
    nbval = re.search(r"^nbval:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert nbval and "tools.portability threads1+offline" in nbval.group(1), (
        "make test runs the notebooks with one thread and no network")
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
    assert "-W -n --keep-going" in makefile, "Sphinx warnings are errors"


def test_torch_is_installed_as_the_cpu_build_before_the_package() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    torch_line = makefile.index("$(TORCH)")
    package_line = makefile.index('-e ".[book,test]"')
    assert torch_line < package_line, "torch must be installed first, or pip pulls a CUDA build"
    # The tools install the same torch: the Makefile exports its TORCH, whose default is theirs.
    assert re.search(rf"^TORCH \?= {re.escape(TORCH_DEFAULT)}$", makefile, re.M)
    assert re.search(r"^export TORCH\b", makefile, re.M)


def test_github_workflows_run_the_same_contract() -> None:
    # GitHub runs what every other CI runs (.ci/run) and publishes from that build;
    # a weekly job runs the newest and oldest versions, so a release is caught early.
    workflows = ROOT / ".github" / "workflows"
    book = yaml.safe_load((workflows / "book.yml").read_text(encoding="utf-8"))
    steps = [s for job in book["jobs"].values() for s in job.get("steps", [])]
    runs = [s.get("run", "") for s in steps]
    assert any(re.search(r"\bbash \.ci/run$", r) for r in runs), "the workflow runs .ci/run"
    assert not any(re.search(r"\bmake (test|book)\b", r) for r in runs), "no sequence of its own"
    assert any(s.get("with", {}).get("path") == "_build/html" for s in steps)
    weekly = (workflows / "weekly.yml").read_text(encoding="utf-8")
    assert "schedule" in yaml.safe_load(weekly)[True]  # YAML 1.1 reads the key `on` as True
    assert re.search(r"config: \[newest, oldest\]", weekly)
    assert "make nbval-portable CONFIGS=${{ matrix.config }}" in weekly


def test_glossary_chinese_terms_are_used_in_the_book() -> None:
    # The glossary collects the lecture's terms as the pages introduce them, so each
    # Chinese term must appear beside its first English use on some page.
    pages = [(ROOT / "book" / "intro.md").read_text(encoding="utf-8")]
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        pages += ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    text = "\n".join(pages)
    terms = glossary_terms()
    assert len(terms) >= 20 and all(CJK.search(zh) for _, zh in terms), terms
    missing = []
    for en, zh in terms:
        for variant in re.split(r"\s*[/、，,;；]\s*", re.sub(r"[（(].*?[)）]", "", zh)):
            if variant and variant not in text:
                missing.append(f"{en}: {variant}")
    assert not missing, f"glossary terms used on no page: {missing}"


def test_licences_are_declared_where_readers_and_tools_look() -> None:
    # Code MIT, text CC BY-SA 4.0: the files, the package metadata and the site footer agree.
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    text_licence = (ROOT / "LICENSE-CC-BY-SA-4.0").read_text(encoding="utf-8")
    assert "Attribution-ShareAlike 4.0 International" in text_licence
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    footer = CONFIG["html"]["extra_footer"]
    assert "CC BY-SA 4.0" in footer and "MIT" in footer, footer


def test_launch_buttons_offer_more_than_colab() -> None:
    buttons = CONFIG["launch_buttons"]
    assert buttons["colab_url"] and buttons["binderhub_url"].startswith("https://")
    assert "jupyterhub_url" in buttons  # empty until an instructor sets their hub
