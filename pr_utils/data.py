"""Data sets for the chapters, all offline: shipped inside installed packages
(statsmodels, scikit-learn, nilearn) or simulated here with the recipe documented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pr_utils._checks import non_negative_int, number, positive


def load_nile() -> tuple[np.ndarray, np.ndarray]:
    """Annual flow of the Nile at Aswan, 1871-1970 (10⁸ m³), from statsmodels.

    Returns ``(year, volume)``, both float64 arrays of length 100.
    """
    from statsmodels.datasets import nile

    data = nile.load_pandas().data
    return data["year"].to_numpy(np.float64), data["volume"].to_numpy(np.float64)


def load_co2(*, monthly: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Atmospheric CO₂ at Mauna Loa, March 1958 - December 2001 (ppm), from statsmodels.

    The weekly series has 59 missing weeks. With ``monthly=True`` (the default)
    weeks are averaged into calendar months, ignoring missing weeks; the 5 months
    without any measurement are left out (a GP needs no regular grid). Otherwise
    the missing weeks are dropped. Returns
    ``(t, ppm)`` with ``t`` in decimal years (the middle of the month or the week).
    """
    from statsmodels.datasets import co2

    series = co2.load_pandas().data["co2"]
    if monthly:
        series = series.resample("MS").mean().dropna()
        t = series.index.year + (series.index.month - 0.5) / 12
    else:
        series = series.dropna()
        t = series.index.year + (series.index.day_of_year - 0.5) / 365.25
    return np.asarray(t, dtype=np.float64), series.to_numpy(np.float64)


# The simulated neonatal cohort. A white-matter volume (cm³) grows with
# post-menstrual age (PMA, weeks) along a logistic curve, is a little smaller in
# babies born preterm (by BIRTH_EFFECT cm³ per week born before 40 weeks), and
# varies between healthy babies with standard deviation NOISE_SD. Injured babies
# have a volume reduced by 2-4 NOISE_SD. The numbers are plausible, not fitted to
# any data: the cohort is simulated and says nothing about real neonates.
GROWTH_FLOOR, GROWTH_GAIN, GROWTH_MID, GROWTH_RATE = 60.0, 120.0, 38.0, 3.0
BIRTH_EFFECT = 1.5
NOISE_SD = 8.0
#: Injury lowers white-matter volume by this many NOISE_SDs (uniform between the two).
INJURY_SD = (2.0, 4.0)


def growth_curve(pma: np.ndarray, ga_at_birth: np.ndarray) -> np.ndarray:
    """Mean white-matter volume (cm³) of healthy babies at ``pma`` weeks PMA,
    born at ``ga_at_birth`` weeks."""
    logistic = GROWTH_GAIN / (1.0 + np.exp(-(pma - GROWTH_MID) / GROWTH_RATE))
    preterm_weeks = np.clip(40.0 - ga_at_birth, 0.0, None)
    return np.asarray(GROWTH_FLOOR + logistic - BIRTH_EFFECT * preterm_weeks)


@dataclass(frozen=True)
class NeonatalCohort:
    """One simulated cohort; all arrays have one entry per baby."""

    pma: np.ndarray  # post-menstrual age at scan, weeks
    ga_at_birth: np.ndarray  # gestational age at birth, weeks
    volume: np.ndarray  # white-matter volume, cm³
    injured: np.ndarray  # bool: white-matter injury simulated


def simulate_neonatal_cohort(n: int, *, injured_fraction: float = 0.0,
                             seed: int = 0) -> NeonatalCohort:
    """Simulate ``n`` neonates scanned at 28-45 weeks PMA, term and preterm born.

    Gestational age at birth is uniform on 24-42 weeks, and each baby is scanned
    between birth (at least 28 weeks) and 45 weeks. A fraction ``injured_fraction``
    of babies has white-matter injury: volume reduced by ``INJURY_SD`` (2-4) healthy
    standard deviations (uniformly drawn). The number injured,
    ``round(injured_fraction * n)``, must be at least 1 when ``injured_fraction > 0``.
    """
    positive("n", n, integer=True)
    if not 0.0 <= number("injured_fraction", injured_fraction) < 1.0:
        raise ValueError(f"injured_fraction must be in [0, 1), got {injured_fraction}")
    if injured_fraction > 0 and round(injured_fraction * n) == 0:
        raise ValueError(f"injured_fraction={injured_fraction} of n={n} babies rounds to no "
                         "injured baby; use a larger n or fraction, or 0 for none")
    rng = np.random.default_rng(seed)
    ga = rng.uniform(24.0, 42.0, n)
    pma = rng.uniform(np.maximum(ga, 28.0), 45.0)
    volume = growth_curve(pma, ga) + rng.normal(0.0, NOISE_SD, n)
    injured = np.zeros(n, dtype=bool)
    injured[rng.permutation(n)[: round(injured_fraction * n)]] = True
    volume[injured] -= rng.uniform(*INJURY_SD, injured.sum()) * NOISE_SD
    return NeonatalCohort(pma=pma, ga_at_birth=ga, volume=volume, injured=injured)


def load_digits_split(*, test_size: float = 0.25,
                      seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """scikit-learn's 1,797 handwritten digits (8×8 pixels) as tensors, split once.

    Returns ``x_train, y_train, x_test, y_test``: images as float32 tensors of shape
    ``(n, 1, 8, 8)`` scaled to [0, 1] (the raw values are 0-16), labels as long
    tensors. The split is stratified by digit and fixed by ``seed``.
    """
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not isinstance(test_size, (float, np.floating)) or not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be a float in (0, 1), got {test_size!r}")
    digits = load_digits()
    x = digits.images.astype(np.float32)[:, None] / 16.0
    x_tr, x_te, y_tr, y_te = train_test_split(x, digits.target, test_size=test_size,
                                              stratify=digits.target, random_state=seed)
    return (torch.from_numpy(x_tr), torch.from_numpy(y_tr).long(),
            torch.from_numpy(x_te), torch.from_numpy(y_te).long())


# Tissue classes of the MNI152 label map built by load_mni152.
TISSUE_CLASSES = ("background/CSF", "grey matter", "white matter")


@dataclass(frozen=True)
class Brain:
    """The MNI152 2009a template at 1 mm, as arrays indexed ``[x, y, z]`` (z axial)."""

    t1: np.ndarray  # T1-weighted intensity, float32, scaled to [0, 1]
    gm: np.ndarray  # grey-matter probability, float32
    wm: np.ndarray  # white-matter probability, float32
    mask: np.ndarray  # bool brain mask
    labels: np.ndarray  # uint8: 0 background/CSF, 1 grey matter, 2 white matter
    spacing: tuple[float, float, float]  # voxel size in mm


def load_mni152() -> Brain:
    """Load the MNI152 2009a T1 template and its tissue maps shipped inside nilearn.

    No download: nilearn keeps these files in the package. The label map takes,
    inside nilearn's brain mask, the most probable of three classes, with
    probabilities (1 - gm - wm, gm, wm); outside the mask everything is class 0.
    Class 0 thus joins the background and the cerebrospinal fluid (CSF), the
    dark fluid around and inside the brain.
    """
    from nilearn import datasets

    t1_img = datasets.load_mni152_template(resolution=1)
    t1 = np.asarray(t1_img.get_fdata(), dtype=np.float32)
    gm = np.asarray(datasets.load_mni152_gm_template(resolution=1).get_fdata(), dtype=np.float32)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=1).get_fdata(), dtype=np.float32)
    mask = np.asarray(datasets.load_mni152_brain_mask(resolution=1).get_fdata()) > 0.5
    t1 = (t1 - t1.min()) / (t1.max() - t1.min())
    probabilities = np.stack([np.clip(1.0 - gm - wm, 0.0, 1.0), gm, wm])
    labels = np.where(mask, probabilities.argmax(axis=0), 0).astype(np.uint8)
    zooms = tuple(float(z) for z in t1_img.header.get_zooms()[:3])
    return Brain(t1=t1, gm=gm, wm=wm, mask=mask, labels=labels,
                 spacing=(zooms[0], zooms[1], zooms[2]))


def crop_to_brain(brain: Brain, *, multiple: int = 8) -> Brain:
    """The same brain with every axial slice cropped to the box, in x and y, that
    holds the brain mask of all slices, widened to a multiple of ``multiple``.

    No brain voxel is cut off, so a segmentation scored on the crop scores the
    same on the whole image (outside the crop is background). The multiple lets a
    network with ``log2(multiple)`` stride-2 levels halve the slices exactly; the
    smaller field of view saves the work spent on empty background.
    """
    positive("multiple", multiple, integer=True)
    box = []
    for axis in (0, 1):
        inside = np.flatnonzero(brain.mask.any(axis=(1 - axis, 2)))
        if len(inside) == 0:
            raise ValueError("the brain mask is empty")
        n = brain.mask.shape[axis]
        size = -(-(inside[-1] + 1 - inside[0]) // multiple) * multiple
        if size > n:
            raise ValueError(f"cannot widen the box to a multiple of {multiple} inside {n} voxels")
        start = min(max(0, inside[0] - (size - (inside[-1] + 1 - inside[0])) // 2), n - size)
        box.append(slice(start, start + size))
    x, y = box
    return Brain(t1=brain.t1[x, y], gm=brain.gm[x, y], wm=brain.wm[x, y], mask=brain.mask[x, y],
                 labels=brain.labels[x, y], spacing=brain.spacing)


def slice_blocks(mask: np.ndarray, *, test_fraction: float = 0.2,
                 gap: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Split the axial slices that contain brain into train and test indices
    without leakage: the test slices are one contiguous block in the middle of the
    brain, and ``gap`` slices on each side of it are used for neither (neighbouring
    1 mm slices are nearly identical). The training slices are the two blocks
    above and below. Never interleave slices between train and test. Raises
    ``ValueError`` when the gap leaves no training slice.
    """
    m = np.asarray(mask)
    if m.ndim != 3 or m.dtype != bool:
        raise TypeError(f"mask must be a 3-D bool array, got {m.dtype} with shape {m.shape}")
    if not 0.0 < number("test_fraction", test_fraction) < 0.5:
        raise ValueError(f"test_fraction must be in (0, 0.5), got {test_fraction}")
    gap = non_negative_int("gap", gap)
    z = np.flatnonzero(m.any(axis=(0, 1)))
    if len(z) < 10:
        raise ValueError("mask must contain brain in at least 10 axial slices")
    n_test = max(1, round(test_fraction * len(z)))
    start = z[0] + (len(z) - n_test) // 2
    test = np.arange(start, start + n_test)
    train = z[(z < start - gap) | (z >= start + n_test + gap)]
    if len(train) == 0:
        raise ValueError(f"gap={gap} leaves no training slice: the brain spans {len(z)} "
                         f"slices, {n_test} of them for testing; use a smaller gap")
    return train, test
