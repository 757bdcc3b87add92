import numpy as np
import pytest

from pr_utils import data


def test_nile_is_a_century_of_annual_flows() -> None:
    year, volume = data.load_nile()
    assert year.shape == volume.shape == (100,)
    assert year[0] == 1871 and year[-1] == 1970
    assert np.all(np.isfinite(volume)) and volume.min() > 0


def test_co2_monthly_drops_only_empty_months_and_rises() -> None:
    t, ppm = data.load_co2()
    assert np.all(np.isfinite(ppm))
    months = np.round(np.diff(t) * 12).astype(int)
    assert months.min() == 1 and len(t) == 526 - 5  # March 1958 - December 2001, 5 empty
    assert ppm[-12:].mean() - ppm[:12].mean() > 50  # about 316 -> 370 ppm


def test_co2_weekly_drops_missing_weeks() -> None:
    t, ppm = data.load_co2(monthly=False)
    assert len(t) == 2284 - 59 and np.all(np.isfinite(ppm))
    assert np.all(np.diff(t) > 0)


def test_growth_curve_at_hand_computed_points() -> None:
    # From the documented recipe: 60 + 120 / (1 + exp(-(pma - 38) / 3)) - 1.5 per week preterm.
    pma = np.array([38.0, 38.0, 44.0, 29.0])
    ga = np.array([40.0, 30.0, 41.0, 29.0])
    expected = [120.0, 105.0, 60 + 120 / (1 + np.exp(-2.0)), 60 + 120 / (1 + np.exp(3.0)) - 16.5]
    assert np.allclose(data.growth_curve(pma, ga), expected)


def test_cohort_is_reproducible_and_follows_the_documented_recipe() -> None:
    a = data.simulate_neonatal_cohort(2000, seed=3)
    b = data.simulate_neonatal_cohort(2000, seed=3)
    assert np.array_equal(a.volume, b.volume)
    assert not a.injured.any()
    assert a.pma.min() >= 28 and a.pma.max() <= 45 and np.all(a.pma >= a.ga_at_birth)
    # the recipe written out again here, not through the simulator's own growth_curve
    mean = (60 + 120 / (1 + np.exp(-(a.pma - 38) / 3))
            - 1.5 * np.clip(40 - a.ga_at_birth, 0, None))
    residual = a.volume - mean
    # 2000 draws of N(0, 8^2): standard errors 0.18 (mean) and 0.13 (sd); 4 of each allowed
    assert abs(residual.mean()) < 0.72 and abs(residual.std() - 8.0) < 0.5


def test_injured_babies_have_smaller_volumes() -> None:
    c = data.simulate_neonatal_cohort(1000, injured_fraction=0.2, seed=0)
    assert c.injured.sum() == 200
    residual = c.volume - data.growth_curve(c.pma, c.ga_at_birth)
    assert residual[c.injured].mean() < -2 * data.NOISE_SD < residual[~c.injured].mean()
    # injury: minus U(2, 4) sds of 8 cm³, mean -24; with the noise the sd is
    # sqrt(64 + 64 * 4 / 12) = 9.2, so 200 babies give a standard error of 0.65 (4 allowed)
    assert data.INJURY_SD == (2.0, 4.0)
    assert abs(residual[c.injured].mean() + 24.0) < 2.6


@pytest.mark.parametrize("kwargs, error", [
    ({"n": 0}, ValueError), ({"n": 2.5}, TypeError),
    ({"n": 10, "injured_fraction": 1.0}, ValueError),
    ({"n": 10, "injured_fraction": "a"}, TypeError),
    ({"n": 10, "injured_fraction": float("nan")}, ValueError),
    ({"n": 10, "injured_fraction": True}, TypeError),
])
def test_cohort_rejects_bad_arguments(kwargs: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        data.simulate_neonatal_cohort(**kwargs)  # type: ignore[arg-type]


def test_cohort_with_too_few_babies_for_any_injury_says_so() -> None:
    # 10% of 3 babies rounds to 0: it used to return a cohort without any injured baby.
    with pytest.raises(ValueError, match=r"injured_fraction=0.1 of n=3 babies rounds to no "
                                         "injured baby"):
        data.simulate_neonatal_cohort(3, injured_fraction=0.1)
    assert data.simulate_neonatal_cohort(10, injured_fraction=0.1).injured.sum() == 1
    plain = data.simulate_neonatal_cohort(50, injured_fraction=0.2, seed=4)
    numpy = data.simulate_neonatal_cohort(np.int64(50), injured_fraction=np.float32(0.2),
                                          seed=4)
    assert all(np.array_equal(getattr(plain, f), getattr(numpy, f))
               for f in ("pma", "ga_at_birth", "volume", "injured"))


def test_digits_split_is_fixed_stratified_and_scaled() -> None:
    x_tr, y_tr, x_te, y_te = data.load_digits_split()
    assert x_tr.shape[1:] == (1, 8, 8) and len(x_tr) + len(x_te) == 1797
    assert float(x_tr.max()) <= 1.0 and float(x_tr.min()) >= 0.0
    assert set(y_te.tolist()) == set(range(10))
    again = data.load_digits_split()
    assert (again[1] == y_tr).all()
    with pytest.raises(ValueError, match="test_size"):
        data.load_digits_split(test_size=1.5)


def test_mni152_labels_follow_the_documented_rule() -> None:
    brain = data.load_mni152()
    assert brain.t1.shape == brain.labels.shape == brain.mask.shape
    assert brain.spacing == (1.0, 1.0, 1.0)
    assert not brain.labels[~brain.mask].any()
    inside = brain.mask & (brain.gm > 0.6)
    assert (brain.labels[inside] == 1).all()
    # white matter is brighter than grey matter in a T1 image
    assert brain.t1[brain.labels == 2].mean() > brain.t1[brain.labels == 1].mean()


def test_crop_to_brain_keeps_every_brain_voxel() -> None:
    brain = data.load_mni152()
    cropped = data.crop_to_brain(brain, multiple=8)
    assert cropped.t1.shape[2] == brain.t1.shape[2]
    assert all(n % 8 == 0 for n in cropped.t1.shape[:2])
    assert cropped.t1.shape[0] < brain.t1.shape[0] and cropped.t1.shape[1] < brain.t1.shape[1]
    assert cropped.mask.sum() == brain.mask.sum()
    assert np.array_equal(np.bincount(cropped.labels.ravel(), minlength=3)[1:],
                          np.bincount(brain.labels.ravel(), minlength=3)[1:])
    with pytest.raises(TypeError, match="multiple must be an int"):
        data.crop_to_brain(brain, multiple=8.0)  # type: ignore[arg-type]


def test_slice_blocks_never_interleave() -> None:
    mask = np.zeros((4, 4, 100), dtype=bool)
    mask[:, :, 10:90] = True
    train, test = data.slice_blocks(mask, test_fraction=0.2, gap=3)
    assert np.all(np.diff(test) == 1) and len(test) == 16
    assert min(abs(t - s) for t in train for s in test) > 3
    assert len(train) + len(test) + 6 == 80
    with pytest.raises(TypeError, match="bool"):
        data.slice_blocks(mask.astype(int))
    with pytest.raises(ValueError, match="test_fraction"):
        data.slice_blocks(mask, test_fraction=0.6)


def test_slice_blocks_refuses_a_gap_that_leaves_no_training_slice() -> None:
    mask = np.zeros((4, 4, 100), dtype=bool)
    mask[:, :, 10:90] = True
    # 80 slices, 16 for testing from slice 42: a gap of 32 still leaves slices 10 and 89
    train, _ = data.slice_blocks(mask, gap=31)
    assert train.tolist() == [10, 89]
    with pytest.raises(ValueError, match="gap=32 leaves no training slice: the brain spans 80 "
                                         "slices, 16 of them for testing"):
        data.slice_blocks(mask, gap=32)
    with pytest.raises(TypeError, match="gap must be a non-negative int, got float"):
        data.slice_blocks(mask, gap=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gap must be a non-negative int, got -1"):
        data.slice_blocks(mask, gap=-1)
    with pytest.raises(TypeError, match="test_fraction must be a number"):
        data.slice_blocks(mask, test_fraction="0.2")  # type: ignore[arg-type]
    # NumPy scalars split exactly as Python ones (np.int64(1) used to be rejected)
    expected = data.slice_blocks(mask, test_fraction=0.2, gap=3)
    got = data.slice_blocks(mask, test_fraction=np.float64(0.2), gap=np.int64(3))
    assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True))
