# The two commands of the README, `make book` and `make test`, and the authoring
# helpers. Every target creates the virtual environment in .venv first.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first, pinned to a release that exists as a CPU build here;
# otherwise pip resolves pr_utils' `torch>=2.8` to a multi-GB CUDA build. Elsewhere:
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH ?= torch==2.13.0
export TORCH  # to tools.lock and tools.portability (tools/__init__.py: the same default)
TORCH_INDEX ?=
NB ?=
# Every recipe here stores or compares notebook outputs, or runs unattended:
# pr_utils' training loops draw no progress bars (pr_utils.runtime.show_progress).
export PR_UTILS_PROGRESS := 0
# Python caches the bytecode of what it imports (pip installs without it, --no-compile below).
# Where the environment says not to (PYTHONDONTWRITEBYTECODE, set on the machines this
# project is developed and tested on), every process compiles torch, MONAI and Sphinx afresh:
# importing the notebooks' libraries took 8.8 s each time, against 3.7 s from the cache.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install lock book pdf translations test lint unit check nbval nbval-portable execute stamp benchmark profile gp-scaling clean

# The lock (pr_utils/resources/requirements.lock, `make lock`) holds the exact versions
# that made the stored outputs; pyproject.toml keeps ranges (Colab keeps its builds).
LOCK := pr_utils/resources/requirements.lock

# --no-compile: Python compiles what it imports when it first does; compiling every file
# of every package up front was half the install (about 50 s of 100 on 2 cores).
$(BIN)/.installed: pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/python -m pip install --quiet --no-compile -c $(LOCK) -e ".[book,test]"
	touch $@

install: $(BIN)/.installed

## make lock: resolve torch and .[book,test] afresh and write the exact versions to the
## lock; then `make test` (a new release that changes a checked output fails there)
lock: install
	$(BIN)/python -m tools.lock

## make book: install, then build the site from the stored notebook outputs: the
## English edition at _build/html, the Chinese one (same notebooks, translated prose,
## book/locales) at _build/html/zh, reader-ready copies of the notebooks (plain
## Markdown, folded solutions) in _build/html/_notebooks, which the site's download
## button also serves and CI publishes for the launch buttons, and the whole book
## as one PDF per edition, _build/html/book.pdf and _build/html/zh/book.pdf
## (skipped where Chromium is missing)
book: install
	$(BIN)/jupyter-book build . --all -W -n --keep-going
	$(BIN)/python -m tools.i18n build --site _build/html
	$(BIN)/python -m tools.pdf --site _build/html --skip-without-chromium & pid=$$!; \
	  $(BIN)/python -m tools.pdf --site _build/html/zh --skip-without-chromium; wait $$pid
	@echo "Site built: open $(CURDIR)/_build/html/index.html"

## make translations: after editing English text, bring the Chinese catalogues
## (book/locales/zh_CN/LC_MESSAGES) up to date and list what needs translating
translations: install
	$(BIN)/python -m tools.i18n update

## make pdf: only the PDF (headless Chromium prints the built site), _build/html/book.pdf
pdf: install
	$(BIN)/python -m tools.pdf --site _build/html
	$(BIN)/python -m tools.pdf --site _build/html/zh

## make test: install, build the site and lint (at once: the site build is mostly one
## process), unit and browser tests, re-run every notebook
test: install
	$(MAKE) --no-print-directory lint & lint=$$!; $(MAKE) --no-print-directory book; wait $$lint
	$(MAKE) --no-print-directory unit nbval

lint: install
	$(BIN)/ruff check pr_utils tests tools book
	$(BIN)/mypy  # pr_utils and tools (pyproject.toml)

unit: install
	$(BIN)/python -m pytest tests -n 2 --dist worksteal

## make check: the edit loop (CONTRIBUTING.md): lint, the unit tests that need neither the
## built site nor a fresh environment, two at a time, and `make nbval` on the notebooks
## changed since main (committed or not); `make test` runs everything
CHANGED = $(shell { git diff --name-only --diff-filter=d $$(git merge-base HEAD main 2>/dev/null || echo HEAD) \
	-- 'book/*.ipynb'; git ls-files --others --exclude-standard -- 'book/*.ipynb'; } | sort -u)
check: lint
	$(BIN)/python -m pytest tests -n 2 --dist worksteal -m "not site and not install"
	$(if $(strip $(CHANGED)),$(BIN)/python -m tools.portability threads1+offline --workers 2 \
		--paths $(CHANGED),@echo "no notebook changed since main")

## make nbval: re-run every notebook and compare its outputs (pytest --nbval), once, the
## way CI does: one thread per notebook (an output that holds only at the thread count
## of the machine that stored it fails), two notebooks at a time, and with no network
## where this machine allows a network namespace (tools/portability.py)
nbval: install
	$(BIN)/python -m tools.portability threads1+offline --workers 2

## make nbval-portable [CONFIGS="threads1 ..."]: nbval where floating point and environment
## differ: 1 and 4 threads, no network, oldest and newest declared versions (tools/portability.py)
CONFIGS ?=
nbval-portable: install
	$(BIN)/python -m tools.portability $(CONFIGS)

## make execute [NB=book/x.ipynb]: re-run notebooks in place with clean metadata
execute: install
	$(BIN)/python -m tools.notebooks execute $(NB)

## make stamp: rewrite every setup cell from its template (after changing the template)
stamp: install
	$(BIN)/python -m tools.notebooks stamp $(NB)

## make benchmark [NB=...]: print each notebook's execution time
benchmark: install
	$(BIN)/python -m tools.notebooks benchmark $(NB)

## make profile [NB=...]: the same, with each notebook's five slowest cells
profile: install
	$(BIN)/python -m tools.notebooks profile $(NB)

## make gp-scaling: re-measure Chapter 1.4's scaling table (about 25 minutes)
gp-scaling: install
	$(BIN)/python -W ignore -m tools.gp_scaling

clean:
	rm -rf _build .pytest_cache .mypy_cache .ruff_cache
