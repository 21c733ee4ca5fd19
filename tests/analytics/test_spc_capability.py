"""Capability indices on the piston rings against qcc's processCapability printout (the values
qcc prints for pistonrings[1:25] and the spec limits of its help page, as reproduced in the
mistat package's tests; see tests/data/spc/README.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qualityloop.analytics.spc.capability import capability

DATA = Path(__file__).resolve().parents[1] / "data" / "spc"


@pytest.fixture(scope="module")
def rings() -> np.ndarray:
    frame = pd.read_csv(DATA / "pistonrings.csv")
    return frame.loc[frame["trial"], "diameter"].to_numpy().reshape(25, 5)


def printed(result, name: str) -> tuple[float, float, float]:
    return tuple(result.indices.loc[name, ["value", "lower", "upper"]])


def assert_printed(result, expected: dict[str, tuple[float, float, float]]) -> None:
    for name, values in expected.items():
        # qcc prints 4 significant digits; it also divides by the tabulated d2 = 2.326
        assert printed(result, name) == pytest.approx(values, rel=5e-4), name


def test_pistonrings_specs_73_95_to_74_05(rings):
    result = capability(rings, lsl=73.95, usl=74.05)
    assert result.n == 125
    assert result.center == pytest.approx(74.00118, abs=5e-6)
    assert result.sigma_within == pytest.approx(0.009785039, rel=5e-5)
    assert result.target == 74.0
    assert_printed(result, {
        "Cp": (1.703, 1.491, 1.915),
        "Cpk": (1.663, 1.448, 1.878),
        "Cpm": (1.691, 1.480, 1.902),
    })
    assert result["Cpl"] == pytest.approx(1.743, rel=5e-4)
    assert result["Cpu"] == pytest.approx(1.663, rel=5e-4)
    # qcc's Cpl/Cpu intervals use the one-sided z(0.975) = our 90 % two-sided interval
    ninety = capability(rings, lsl=73.95, usl=74.05, confidence=0.90)
    assert_printed(ninety, {"Cpl": (1.743, 1.555, 1.932), "Cpu": (1.663, 1.483, 1.844)})
    assert (result.ppm.loc["observed"] == 0).all()


def test_pistonrings_off_target(rings):
    result = capability(rings, lsl=73.95, usl=74.05, target=74.02)
    assert_printed(result, {"Cp": (1.703, 1.491, 1.915), "Cpm": (0.7856, 0.6556, 0.9154)})


def test_pistonrings_tight_specs_and_fraction_out(rings):
    result = capability(rings, lsl=73.99, usl=74.01)
    assert_printed(result, {
        "Cp": (0.3407, 0.2983, 0.3830),
        "Cpk": (0.3006, 0.2312, 0.3700),
        "Cpm": (0.3382, 0.2960, 0.3804),
    })
    # qcc prints Exp<LSL 13%, Exp>USL 18%, Obs<LSL 12%, Obs>USL 16%
    percent = result.ppm / 1e4
    assert round(percent.loc["expected_within", "below_lsl"]) == 13
    assert round(percent.loc["expected_within", "above_usl"]) == 18
    assert percent.loc["observed", "below_lsl"] == pytest.approx(12.0)
    assert percent.loc["observed", "above_usl"] == pytest.approx(16.0)


def test_pistonrings_asymmetric_specs(rings):
    result = capability(rings, lsl=73.99, usl=74.1)
    assert_printed(result, {
        "Cp": (1.8736, 1.6406, 2.1063),
        "Cpk": (0.3807, 0.3055, 0.4559),
        "Cpm": (0.4083, 0.3377, 0.4788),
    })


def test_overall_indices_use_the_sample_standard_deviation(rings):
    result = capability(rings, lsl=73.95, usl=74.05)
    sd = rings.std(ddof=1)
    assert result.sigma_overall == pytest.approx(sd)
    assert result["Pp"] == pytest.approx(0.1 / (6 * sd))
    assert result["Ppk"] == pytest.approx((74.05 - rings.mean()) / (3 * sd))
    lower = stats.chi2.ppf(0.025, 124)
    assert result.indices.loc["Pp", "lower"] == pytest.approx(result["Pp"] * np.sqrt(lower / 124))
    expected_above = stats.norm.sf((74.05 - rings.mean()) / sd) * 1e6
    assert result.ppm.loc["expected_overall", "above_usl"] == pytest.approx(expected_above)


def test_one_sided_spec(rings):
    result = capability(rings, usl=74.05)
    assert np.isnan(result["Cp"]) and np.isnan(result["Cpm"]) and np.isnan(result["Cpl"])
    assert result["Cpk"] == pytest.approx(result["Cpu"])
    assert np.isnan(result.ppm.loc["expected_within", "below_lsl"])
    assert result.ppm.loc["expected_within", "total"] == pytest.approx(
        result.ppm.loc["expected_within", "above_usl"])
    lower_only = capability(rings, lsl=73.95)
    assert lower_only["Cpk"] == pytest.approx(lower_only["Cpl"])


def test_subgroup_size_and_individuals(rings):
    flat = rings.ravel()
    grouped = capability(flat, 73.95, 74.05, subgroup_size=5)
    assert grouped["Cp"] == pytest.approx(capability(rings, 73.95, 74.05)["Cp"])
    single = capability(flat, 73.95, 74.05)
    moving = np.abs(np.diff(flat)).mean() / 1.128379
    assert single.sigma_within == pytest.approx(moving, rel=1e-5)
    s_based = capability(rings, 73.95, 74.05, within="s")
    assert s_based.sigma_within == pytest.approx(rings.std(axis=1, ddof=1).mean() / 0.9399856,
                                                 rel=1e-6)


def test_summary_and_plot(rings):
    result = capability(rings, 73.95, 74.05)
    table = result.summary()
    assert table.index.tolist() == ["Cp", "Cpl", "Cpu", "Cpk", "Cpm", "Pp", "Ppl", "Ppu", "Ppk"]
    assert table.loc["Ppk", "sigma"] == "overall"
    assert "layer" in result.plot().to_dict()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "at least one specification limit"),
        ({"lsl": 2.0, "usl": 1.0}, "lsl must be below usl"),
        ({"lsl": 0.0, "confidence": 1.5}, "confidence"),
        ({"lsl": 0.0, "within": "mad"}, "within"),
        ({"lsl": 0.0, "subgroup_size": 4}, "do not split"),
    ],
)
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        capability([1.0, 2.0, 3.0, 2.5, 1.5], **kwargs)
