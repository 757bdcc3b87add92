import random

import numpy as np
import pytest
import torch

import pr_utils
from pr_utils.runtime import get_device, seed_everything


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


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_get_device_cuda_without_gpu_fails_loudly() -> None:
    with pytest.raises(RuntimeError, match="no CUDA device"):
        get_device("cuda")
