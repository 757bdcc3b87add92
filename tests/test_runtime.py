import random
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import pr_utils
from pr_utils.runtime import (
    LIBRARY_WARNINGS,
    PROGRESS_ENV,
    get_device,
    progress_bar,
    quiet_library_warnings,
    seed_everything,
    show_progress,
)


def test_quiet_library_warnings_ignores_those_listed_and_only_those() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        quiet_library_warnings()
        quiet_library_warnings()  # a second call adds no second copy of a filter
        assert len(warnings.filters) == len(LIBRARY_WARNINGS) + 1
        warnings.warn("`torch.jit.script` is deprecated. Please switch to ...", FutureWarning,
                      stacklevel=1)
        warnings.warn_explicit("MONAI's always_return_as_numpy", FutureWarning, "x.py", 1,
                               module="monai.metrics.utils")
        warnings.warn_explicit("an API is deprecated", UserWarning, "sparse.py", 1,
                               module="linear_operator.utils.sparse")
        assert caught == []
        warnings.warn("a page's own warning", UserWarning, stacklevel=1)
        warnings.warn("`torch.jit.script` is deprecated", UserWarning, stacklevel=1)
        warnings.warn_explicit("an API is deprecated", UserWarning, "gp.py", 1,
                               module="pr_utils.gp")
    assert len(caught) == 3


def test_importing_pr_utils_before_gpytorch_quiets_its_import() -> None:
    """GPyTorch's import warns (torch.jit.script); `import pr_utils` first silences it."""
    code = "import {}; import gpytorch"
    run = [sys.executable, "-W", "error::DeprecationWarning", "-W", "error::FutureWarning", "-c"]
    assert subprocess.run([*run, code.format("pr_utils")], capture_output=True).returncode == 0
    bare = subprocess.run([*run, code.format("torch")], capture_output=True, text=True)
    assert bare.returncode != 0 and "torch.jit.script" in bare.stderr  # the warning it silences


def draw() -> tuple[float, float, torch.Tensor]:
    legacy = float(np.random.rand())  # noqa: NPY002 - the global generator is what is seeded
    return random.random(), legacy, torch.rand(3)


def test_seed_everything_makes_all_generators_repeat() -> None:
    seed_everything(123)
    first = draw()
    seed_everything(123)
    second = draw()
    assert first[:2] == second[:2]
    assert torch.equal(first[2], second[2])


def test_different_seeds_give_different_draws() -> None:
    seed_everything(1)
    a = draw()
    seed_everything(2)
    b = draw()
    assert a[0] != b[0] and a[1] != b[1] and not torch.equal(a[2], b[2])


def test_seed_everything_sets_cudnn_and_tf32_flags() -> None:
    seed_everything(0, deterministic=True)
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    seed_everything(0, deterministic=False)
    assert not torch.backends.cudnn.deterministic and torch.backends.cudnn.benchmark
    assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    seed_everything(0)


def test_seed_everything_accepts_numpy_integers() -> None:
    seed_everything(np.int64(7))
    a = torch.rand(1)
    seed_everything(7)
    assert torch.equal(a, torch.rand(1))


@pytest.mark.parametrize("seed", ["0", 1.5, True, None])
def test_seed_everything_rejects_non_integers(seed: object) -> None:
    with pytest.raises(TypeError, match="seed must be an int"):
        seed_everything(seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_seed_everything_rejects_out_of_range(seed: int) -> None:
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*32\)"):
        seed_everything(seed)


def test_seed_everything_rejects_non_bool_deterministic() -> None:
    with pytest.raises(TypeError, match="deterministic must be a bool"):
        seed_everything(0, deterministic="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("gpu, expected", [(True, "cuda"), (False, "cpu")])
def test_get_device_picks_cuda_only_when_present(
        monkeypatch: pytest.MonkeyPatch, gpu: bool, expected: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert get_device() == torch.device(expected)
    assert pr_utils.get_device is get_device


def test_get_device_can_force_cpu() -> None:
    assert get_device("cpu") == torch.device("cpu")


def test_get_device_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="prefer must be one of"):
        get_device("gpu")


def test_get_device_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="prefer must be a str or None"):
        get_device(0)  # type: ignore[arg-type]


@pytest.mark.parametrize("gpu", [False, True])
def test_get_device_cuda_fails_loudly_exactly_without_a_gpu(
        monkeypatch: pytest.MonkeyPatch, gpu: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    if gpu:
        assert get_device("cuda") == torch.device("cuda")
    else:
        with pytest.raises(RuntimeError, match="no CUDA device"):
            get_device("cuda")


def test_get_device_cuda_on_this_machine() -> None:
    """Runs on every machine: with a GPU the device computes, without one the call fails."""
    if torch.cuda.is_available():
        device = get_device("cuda")
        assert device.type == "cuda" and get_device() == device
        assert float((torch.ones(3, device=device) * 2).sum()) == 6.0
    else:
        with pytest.raises(RuntimeError, match="prefer='cuda' but no CUDA device is available"):
            get_device("cuda")
        assert get_device() == torch.device("cpu")


# Progress bars: shown to a person running a notebook, never stored by the book's executors.

@pytest.mark.parametrize("value, expected", [(None, True), ("", True), ("1", True),
                                             ("0", False), (" OFF ", False), ("false", False),
                                             ("no", False)])
def test_show_progress_follows_the_environment_when_none(
        monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool) -> None:
    if value is None:
        monkeypatch.delenv(PROGRESS_ENV, raising=False)
    else:
        monkeypatch.setenv(PROGRESS_ENV, value)
    assert show_progress() is expected
    assert show_progress(None) is expected


@pytest.mark.parametrize("value", [None, "0", "1"])
def test_show_progress_explicit_choice_wins(monkeypatch: pytest.MonkeyPatch,
                                            value: str | None) -> None:
    if value is None:
        monkeypatch.delenv(PROGRESS_ENV, raising=False)
    else:
        monkeypatch.setenv(PROGRESS_ENV, value)
    assert show_progress(True) is True
    assert show_progress(False) is False


@pytest.mark.parametrize("progress", [1, 0, "yes", "0"])
def test_show_progress_rejects_non_bools(progress: object) -> None:
    with pytest.raises(TypeError, match="progress must be a bool or None"):
        show_progress(progress)  # type: ignore[arg-type]


def test_progress_bar_draws_after_its_delay(capsys: pytest.CaptureFixture[str]) -> None:
    bar = progress_bar(range(3), progress=True, delay=0)
    assert list(bar) == [0, 1, 2]
    assert "training: 100%" in capsys.readouterr().err
    assert list(progress_bar(range(3), progress=True, delay=60)) == [0, 1, 2]
    assert capsys.readouterr().err == "", "a loop shorter than the delay shows no bar"


def test_progress_bar_off_is_silent(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(PROGRESS_ENV, "0")
    bar = progress_bar(range(3), progress=None, delay=0)
    for _ in bar:
        bar.set_postfix(loss="1.0", refresh=False)  # a no-op, not an error
    assert bar.disable
    assert capsys.readouterr().err == ""


def test_progress_bar_is_plain_text_without_ipywidgets(monkeypatch: pytest.MonkeyPatch) -> None:
    # In a Jupyter kernel without ipywidgets, tqdm.auto prints a TqdmWarning into the
    # notebook; the text bar is used instead.
    import importlib.util

    from tqdm.std import tqdm

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ipywidgets" else real(name, *a))
    bar = progress_bar(range(1), progress=True, delay=60)
    assert type(bar) is tqdm
    bar.close()


def test_progress_bar_rejects_a_bad_delay() -> None:
    with pytest.raises(ValueError, match="delay must be"):
        progress_bar(range(3), progress=True, delay=-1)
    with pytest.raises(ValueError, match="delay must be"):
        progress_bar(range(3), progress=True, delay=float("inf"))
    assert list(progress_bar(range(2), progress=False, delay=np.float32(1.5))) == [0, 1]
    with pytest.raises(TypeError, match="progress must be"):
        progress_bar(range(3), progress="on", delay=0)  # type: ignore[arg-type]


def _train_all(progress: object) -> list[list[float]]:
    """A tiny run of each training loop of pr_utils with this ``progress`` value."""
    import gpytorch

    from pr_utils import gp, scaling, seg
    from pr_utils import nn as prnn

    x, y = scaling.scaling_data(50, seed=1)
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    model = gp.ExactGPModel(x, y, likelihood)
    gp_losses = gp.train_gp(model, likelihood, x, y, iterations=3, progress=progress)  # type: ignore[arg-type]
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    xc = torch.randn(20, 2, generator=torch.Generator().manual_seed(0))
    yc = (xc[:, 0] > 0).long()
    nn_losses = prnn.train_classifier(net, xc, yc, epochs=2, lr=0.1,
                                      progress=progress)["loss"]  # type: ignore[arg-type]
    conv = torch.nn.Conv2d(1, 2, 1)
    batches = [{"image": torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(0)),
                "label": torch.zeros(2, 1, 4, 4, dtype=torch.long)}]
    seg_losses = seg.train_segmentation(
        conv, batches, lambda logits, lab: torch.nn.functional.cross_entropy(logits, lab[:, 0]),
        epochs=2, lr=0.1, progress=progress)["loss"]  # type: ignore[arg-type]
    return [gp_losses, nn_losses, seg_losses]


def test_training_loops_accept_progress_none_and_train_the_same(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert _train_all(None) == _train_all(False) == _train_all(True)


@pytest.mark.parametrize("progress", [1, "no"])
def test_training_loops_reject_a_non_bool_progress(progress: object) -> None:
    import gpytorch

    from pr_utils import gp, scaling, seg
    from pr_utils import nn as prnn

    x, y = scaling.scaling_data(20, seed=1)
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    with pytest.raises(TypeError, match="progress must be a bool or None"):
        gp.train_gp(gp.ExactGPModel(x, y, likelihood), likelihood, x, y, iterations=1,
                    progress=progress)  # type: ignore[arg-type]
    net = torch.nn.Linear(2, 2)
    with pytest.raises(TypeError, match="progress must be a bool or None"):
        prnn.train_classifier(net, torch.zeros(4, 2), torch.zeros(4, dtype=torch.long),
                              epochs=1, lr=0.1, progress=progress)  # type: ignore[arg-type]
    batches = [{"image": torch.zeros(1, 1, 2, 2), "label": torch.zeros(1, 1, 2, 2)}]
    with pytest.raises(TypeError, match="progress must be a bool or None"):
        seg.train_segmentation(torch.nn.Conv2d(1, 2, 1), batches, lambda a, b: a.sum(),
                               epochs=1, progress=progress)  # type: ignore[arg-type]


def test_the_books_executors_switch_progress_bars_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make execute`, `make nbval`, `make nbval-portable`: no bar reaches an output."""
    import os
    from pathlib import Path

    import nbformat

    import tools.notebooks
    from tools.portability import command_for

    root = Path(__file__).resolve().parents[1]
    monkeypatch.setenv(PROGRESS_ENV, "1")  # a reader's setting must not leak into outputs
    seen: dict[str, str | None] = {}

    class Client:  # stands in for nbclient's, to see the environment a kernel inherits
        def __init__(self, nb: object, **kwargs: object) -> None:
            pass

        def execute(self) -> None:
            seen["kernel"] = os.environ.get(PROGRESS_ENV)

    monkeypatch.setattr(tools.notebooks, "NotebookClient", Client)
    tools.notebooks.run(nbformat.v4.new_notebook(), root / "book" / "x.ipynb")
    assert seen["kernel"] == "0"
    assert command_for(["threads1"])[1][PROGRESS_ENV] == "0"
    makefile = (root / "Makefile").read_text(encoding="utf-8")
    assert re.search(rf"^export {PROGRESS_ENV} := 0$", makefile, re.M)
