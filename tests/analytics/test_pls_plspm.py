"""PLSPathModel against the Python plspm package (an independent implementation) on the ECSI
model: centroid, factorial and path schemes, Mode A and Mode B, and the bootstrap standard
errors. The reference values come from tests/reference/make_plspm_reference.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.relate import PLSPathModel

from .test_pls_ecsi import MEASUREMENT, STRUCTURAL, ecsi_data

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
CASES = {
    "path_A": ("path", {}),
    "centroid_A": ("centroid", {}),
    "factorial_A": ("factorial", {}),
    "path_B": ("path", {"Image": "B", "Quality": "B"}),
    "centroid_B": ("centroid", {"Image": "B", "Quality": "B"}),
}


def reference(case: str) -> pd.DataFrame:
    table = pd.read_csv(REFERENCE / "plspm_ecsi_estimates.csv", keep_default_na=False)
    table = table[table["case"] == case]
    return table.set_index(["kind", "from", "to"])["value"].astype(float)


@pytest.mark.parametrize("case", list(CASES))
def test_estimates_match_plspm(case):
    scheme, modes = CASES[case]
    model = PLSPathModel(MEASUREMENT, STRUCTURAL, modes=modes, scheme=scheme,
                         tol=1e-10).fit(ecsi_data())
    expected = reference(case)
    ours = model.summary(["path", "loading", "weight", "r2"])["estimate"]
    assert len(expected) == len(ours)
    difference = (ours - expected.reindex(ours.index)).abs()
    assert difference.max() < 1e-6, difference.sort_values().tail()


def test_schemes_and_modes_give_different_estimates():
    """The cases above are not one case five times: the paths differ in the third decimal."""
    quality_to_value = [reference(case).loc[("path", "Quality", "Value")] for case in CASES]
    assert np.ptp(quality_to_value) > 0.02


def test_bootstrap_standard_errors_agree_with_plspm():
    """Different resamples (plspm: 1,000 from numpy's legacy generator; ours: 2,000), so only
    Monte-Carlo agreement on the paths: each standard error within 15%, their mean ratio
    within 5%. Loadings are not compared: plspm 0.5.7 scales each resample's columns by one
    pooled standard deviation instead of re-standardising each indicator, which leaves the
    paths nearly unchanged but makes its loading distributions wider (up to 1.4x the standard
    error of a re-standardised bootstrap for loadings near 0.9). Exactness of our draws is
    tested in test_pls_bootstrap.py against refitting every resample."""
    model = PLSPathModel(MEASUREMENT, STRUCTURAL).fit(ecsi_data(), bootstrap=2000, seed=7)
    table = pd.read_csv(REFERENCE / "plspm_ecsi_bootstrap.csv").set_index(["kind", "from", "to"])
    table = table.loc[["path"]]
    ours = model.bootstrap_.reindex(table.index)
    ratio = ours["std_error"] / table["std_error"]
    assert len(ratio) == 12 and ratio.notna().all()
    assert ratio.between(0.85, 1.15).all(), ratio.sort_values()
    assert ratio.mean() == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(ours["estimate"], table["original"], atol=1e-6)
    # the percentile intervals agree to Monte-Carlo error too
    np.testing.assert_allclose(ours["ci_lower"], table["perc_025"], atol=0.03)
    np.testing.assert_allclose(ours["ci_upper"], table["perc_975"], atol=0.03)
