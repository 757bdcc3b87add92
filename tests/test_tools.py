"""The authoring command that regenerates notebook outputs."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tools.notebooks import (
    COLAB_GPU,
    KERNELSPEC,
    clean,
    pinned_ref,
    problems,
    repository,
    setup_cell_source,
    stamp_setup_cell,
)

COMMIT = "1234567890abcdef1234567890abcdef12345678"


def test_stamp_inserts_the_setup_cell_after_the_title() -> None:
    nb = new_notebook(cells=[new_markdown_cell("# Title"), new_code_cell("x = 1")])
    stamp_setup_cell(nb, COMMIT)
    assert nb.cells[1].source == setup_cell_source(COMMIT)
    assert nb.cells[1].metadata["tags"] == ["hide-input"]
    assert nb.cells[2].source == "x = 1"


def test_stamp_replaces_an_outdated_setup_cell_in_place() -> None:
    old = setup_cell_source("0" * 40)
    nb = new_notebook(cells=[new_markdown_cell("# T"), new_code_cell(old), new_code_cell("y")])
    stamp_setup_cell(nb, COMMIT)
    assert [c.source for c in nb.cells[1:]] == [setup_cell_source(COMMIT), "y"]
    assert pinned_ref(nb.cells[1].source) == COMMIT


def test_stamp_installs_from_the_branch_by_default_and_rejects_a_short_hash() -> None:
    # The committed notebooks name the branch, so a change to pr_utils changes none of them.
    nb = new_notebook(cells=[new_markdown_cell("# T")])
    stamp_setup_cell(nb)
    assert pinned_ref(nb.cells[1].source) == repository()[1]
    with pytest.raises(ValueError, match="40-digit"):
        setup_cell_source("abc123")


def test_clean_drops_timestamps_versions_and_editor_state() -> None:
    cell = new_code_cell("import pr_utils\ndevice = pr_utils.get_device()")
    cell.metadata = {"execution": {"iopub.status.busy": "2026-01-01"}, "tags": ["hide-input"]}
    nb = new_notebook(cells=[cell])
    nb.metadata = {"kernelspec": {"name": "conda-env-x"}, "language_info": {"version": "3.11.7"}}
    clean(nb)
    assert nb.metadata["kernelspec"] == KERNELSPEC
    assert nb.metadata["language_info"] == {"name": "python"}
    assert nb.metadata["accelerator"] == COLAB_GPU["accelerator"]
    assert nb.cells[0].metadata == {"tags": ["hide-input"]}
    nbformat.validate(nb)


def test_clean_gives_no_gpu_metadata_to_notebooks_without_a_device() -> None:
    nb = clean(new_notebook(cells=[new_code_cell("print(1)")]))
    assert "accelerator" not in nb.metadata


def test_problems_reports_errors_and_leaked_warnings() -> None:
    warn = new_output("stream", name="stderr", text="UserWarning: something\n")
    err = new_output("error", ename="ValueError", evalue="bad", traceback=[])
    ok = new_output("stream", name="stdout", text="fine\n")
    nb = new_notebook(cells=[new_code_cell("a", outputs=[warn]), new_code_cell("b", outputs=[err]),
                             new_code_cell("c", outputs=[ok])])
    found = problems(nb)
    assert found == [
        "code cell 0: a warning leaked into the output",
        "code cell 1: error ValueError",
    ]


def test_oldest_constraints_are_the_lower_bounds_of_pyproject() -> None:
    from tools.portability import lower_bounds

    pins = dict(p.split("==") for p in lower_bounds())
    assert "torch" not in pins, "torch stays at the CPU build the Makefile installs"
    assert pins["numpy"] and pins["gpytorch"] and pins["monai"] and pins["nbval"]
    assert all(v[0].isdigit() for v in pins.values())


def test_portability_configurations_combine() -> None:
    import pytest

    from tools.portability import command_for

    cmd, env = command_for(["threads1"])
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
    assert cmd[1:4] == ["-m", "pytest", "--nbval"]
    cmd, env = command_for(["threads4", "offline"])
    assert cmd[:2] == ["unshare", "-n"] and env["MKL_NUM_THREADS"] == "4"
    with pytest.raises(SystemExit, match="unknown configuration"):
        command_for(["threads8"])


def test_margins_reseeds_only_literal_zero_seeds() -> None:
    from tools.margins import reseed

    nb = new_notebook(cells=[new_code_cell(
        "seed_everything(0)\ntorch.manual_seed(0)\nGaussianMixture(random_state=0)\n"
        "np.random.default_rng(0)\nnp.random.default_rng(10)\nmanual_seed(1)")])
    assert reseed(nb, 3) == 4
    assert nb.cells[0].source == (
        "seed_everything(3)\ntorch.manual_seed(3)\nGaussianMixture(random_state=3)\n"
        "np.random.default_rng(3)\nnp.random.default_rng(10)\nmanual_seed(1)")
