"""The authoring tools: the setup cell, what `make execute` writes, portability, margins."""

import re
from math import inf

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tools import margins, notebooks, portability

COMMIT = "1234567890abcdef1234567890abcdef12345678"


def test_the_setup_cell_keeps_what_the_runtime_has_and_stamp_writes_it_after_the_title() -> None:
    cell = notebooks.setup_cell_source()  # every committed notebook's (tests/test_notebooks)
    # The branch, not a commit: changing pr_utils changes no committed notebook. The
    # published copies pin the commit they are made from.
    assert re.findall(r"git\+(https://github\.com/[\w.-]+/[\w.-]+)@([\w.-]+)\"", cell) == [
        notebooks.repository()]
    assert notebooks.setup_cell_source(COMMIT) == cell.replace(
        f'@{notebooks.repository()[1]}"', f'@{COMMIT}"')
    with pytest.raises(ValueError, match="40-digit"):
        notebooks.setup_cell_source("abc123")
    # It acts wherever pr_utils is missing (Colab, Kaggle, plain Jupyter), not only on Colab,
    # and keeps what the runtime has (every installed distribution, URL and editable
    # installs too, becomes a constraint), the rest at the lock's versions.
    assert 'importlib.util.find_spec("pr_utils") is None' in cell
    assert "metadata.distributions()" in cell and "requirements.lock" in cell
    assert "TemporaryDirectory" in cell, "the constraints file is removed afterwards"
    # Reinstalling or pinning torch or numpy forces a restart of the Colab runtime.
    assert not re.search(r"\b(torch|numpy)\b[^\n]*[=<>]", cell)
    assert "-e" not in cell.split(), "editable installs need a runtime restart on Colab"
    nb = new_notebook(cells=[new_markdown_cell("# Title"), new_code_cell("x = 1")])
    notebooks.stamp_setup_cell(nb, COMMIT)
    assert [c.source for c in nb.cells] == ["# Title", notebooks.setup_cell_source(COMMIT), "x = 1"]
    assert nb.cells[1].metadata["tags"] == ["hide-input"], "folded on the site"
    notebooks.stamp_setup_cell(nb)
    assert [c.source for c in nb.cells] == ["# Title", notebooks.setup_cell_source(), "x = 1"]


def test_clean_drops_timestamps_versions_and_editor_state_and_problems_finds_leaks() -> None:
    cell = new_code_cell("import pr_utils\ndevice = pr_utils.get_device()")
    cell.metadata = {"execution": {"iopub.status.busy": "2026-01-01"}, "tags": ["hide-input"]}
    nb = new_notebook(cells=[cell])
    nb.metadata = {"kernelspec": {"name": "conda-env-x"}, "language_info": {"version": "3.11.7"}}
    assert notebooks.clean(nb).metadata == {**notebooks.COLAB_GPU,
                                            "kernelspec": notebooks.KERNELSPEC,
                                            "language_info": {"name": "python"}}
    assert nb.cells[0].metadata == {"tags": ["hide-input"]}
    nbformat.validate(nb)
    plain = notebooks.clean(new_notebook(cells=[new_code_cell("print(1)")]))
    assert "accelerator" not in plain.metadata, "no GPU for a notebook without a device"
    outputs = [new_output("stream", name="stderr", text="UserWarning: something\n"),
               new_output("error", ename="ValueError", evalue="bad", traceback=[]),
               new_output("stream", name="stdout", text="fine\n")]
    nb = new_notebook(cells=[new_code_cell("a", outputs=[out]) for out in outputs])
    assert notebooks.problems(nb) == ["code cell 0: a warning leaked into the output",
                                      "code cell 1: error ValueError"]


def test_portability_configurations_and_the_oldest_constraints() -> None:
    cmd, env = portability.command_for(["threads1"])
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
    assert cmd[1:4] == ["-m", "pytest", "--nbval"]
    cmd, env = portability.command_for(["threads4", "offline"], 2, ["book", "book/x.ipynb"])
    assert cmd[:2] == ["unshare", "-n"] and env["MKL_NUM_THREADS"] == "4"
    files = cmd[cmd.index("--no-loadscope-reorder") + 1:]  # slowest first, by make benchmark:
    times = [notebooks.recorded_seconds().get(f, inf) for f in files]
    assert times == sorted(times, reverse=True) and times[files.index("book/x.ipynb")] == inf
    assert len(files) == len(notebooks.book_notebooks()) + 1 and cmd[-len(files) - 2] == "loadfile"
    with pytest.raises(SystemExit, match="unknown configuration"):
        portability.command_for(["threads8"])
    pins = dict(p.split("==") for p in portability.lower_bounds())
    assert "torch" not in pins, "torch stays at the CPU build the Makefile installs"
    assert pins["numpy"] and pins["gpytorch"] and pins["monai"] and pins["nbval"]
    assert all(v[0].isdigit() for v in pins.values())


def test_margins_reseeds_only_literal_zero_seeds() -> None:
    nb = new_notebook(cells=[new_code_cell(
        "seed_everything(0)\ntorch.manual_seed(0)\nGaussianMixture(random_state=0)\n"
        "np.random.default_rng(0)\nnp.random.default_rng(10)\nmanual_seed(1)")])
    assert margins.reseed(nb, 3) == 4
    assert nb.cells[0].source == (
        "seed_everything(3)\ntorch.manual_seed(3)\nGaussianMixture(random_state=3)\n"
        "np.random.default_rng(3)\nnp.random.default_rng(10)\nmanual_seed(1)")
