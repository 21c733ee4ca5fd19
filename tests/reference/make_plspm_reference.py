"""Reference values for tests/analytics/test_pls_plspm.py, made with the Python ``plspm``
package (an independent PLS-PM implementation, a port of R's plspm).

plspm 0.5.7 needs numpy<2 and pandas<2.2, so it runs in a venv of its own:

    benchmarks/setup_peers.sh        # makes benchmarks/.peers/plspm
    benchmarks/.peers/plspm/bin/python tests/reference/make_plspm_reference.py

It writes, next to this script:
- plspm_ecsi_estimates.csv: case, kind (path, loading, weight, r2), from, to, value, for the
  ECSI model under the path, centroid and factorial schemes, all Mode A, and with Image and
  Quality in Mode B (path and centroid schemes).
- plspm_ecsi_bootstrap.csv: plspm's bootstrap (1,000 resamples, numpy seed 20261125, path
  scheme, Mode A): kind (path, loading), from, to, original, std_error, perc_025, perc_975.
  Only the paths are used by the tests: within a resample plspm 0.5.7 does not re-standardise
  each indicator (see (1) below), which widens its loading distributions, and the "original"
  column of its loading table is not in the order of its rows.

Two conventions are aligned here, not in the tests. (1) With ``scaled=True`` and metric data
plspm 0.5.7 divides every column by one pooled standard deviation instead of its own, so we
give it indicators already standardised (mean 0, sd 1 with denominator n - 1); one common
scale factor changes no estimate. (2) plspm scales weights so that its scores have unit
variance with denominator n on its own scaling of the data; the weights written here are
rescaled so that the composite of the standardised indicators has unit variance with
denominator n - 1 (the convention of qualityloop, seminr and SmartPLS).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plspm.config as c
from plspm.mode import Mode
from plspm.plspm import Plspm
from plspm.scheme import Scheme

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data" / "ecsi" / "ecsi_mobi.csv"
MODEL = json.loads((DATA.parent / "ecsi_model.json").read_text())
BLOCKS = MODEL["measurement"]
PATHS = [tuple(path) for path in MODEL["structural"]]
CASES = {  # name: (scheme, constructs in Mode B)
    "path_A": (Scheme.PATH, ()),
    "centroid_A": (Scheme.CENTROID, ()),
    "factorial_A": (Scheme.FACTORIAL, ()),
    "path_B": (Scheme.PATH, ("Image", "Quality")),
    "centroid_B": (Scheme.CENTROID, ("Image", "Quality")),
}
BOOT_SEED, BOOT_N = 20261125, 1000


def standardised() -> pd.DataFrame:
    data = pd.read_csv(DATA)
    return (data - data.mean()) / data.std(ddof=1)


def config(mode_b: tuple[str, ...]) -> c.Config:
    structure = c.Structure()
    for source, target in PATHS:
        structure.add_path([source], [target])
    cfg = c.Config(structure.path(), scaled=True)
    for construct, indicators in BLOCKS.items():
        mode = Mode.B if construct in mode_b else Mode.A
        cfg.add_lv(construct, mode, *[c.MV(i) for i in indicators])
    return cfg


def estimates(name: str, model: Plspm, data: pd.DataFrame) -> list[dict]:
    rows = []
    paths = model.path_coefficients()  # rows = to, columns = from
    for source, target in PATHS:
        rows.append(dict(case=name, kind="path", source=source, target=target,
                         value=paths.loc[target, source]))
    outer = model.outer_model()
    for construct, indicators in BLOCKS.items():
        w = outer.loc[indicators, "weight"].to_numpy()
        w = w / (data[indicators].to_numpy() @ w).std(ddof=1)
        for indicator, weight in zip(indicators, w, strict=True):
            rows.append(dict(case=name, kind="loading", source=construct, target=indicator,
                             value=outer.loc[indicator, "loading"]))
            rows.append(dict(case=name, kind="weight", source=indicator, target=construct,
                             value=weight))
    r2 = model.inner_summary()["r_squared"]
    for construct in r2.index[r2 > 0]:
        rows.append(dict(case=name, kind="r2", source=construct, target="", value=r2[construct]))
    return rows


def bootstrap_table(data: pd.DataFrame) -> pd.DataFrame:
    np.random.seed(BOOT_SEED)  # plspm draws with np.random; one process inherits this state
    model = Plspm(data, config(()), Scheme.PATH, iterations=1000, tolerance=1e-10,
                  bootstrap=True, bootstrap_iterations=BOOT_N, processes=1)
    rows = []
    for kind, table in (("path", model.bootstrap().paths()),
                        ("loading", model.bootstrap().loading())):
        for label, row in table.iterrows():
            if kind == "path":
                source, target = label.split(" -> ")
            else:
                source = next(k for k, v in BLOCKS.items() if label in v)
                target = label
            rows.append(dict(kind=kind, source=source, target=target,
                             original=row["original"], std_error=row["std.error"],
                             perc_025=row["perc.025"], perc_975=row["perc.975"]))
    return pd.DataFrame(rows).rename(columns={"source": "from", "target": "to"})


def main() -> None:
    data = standardised()
    rows = []
    for name, (scheme, mode_b) in CASES.items():
        model = Plspm(data, config(mode_b), scheme, iterations=1000, tolerance=1e-12)
        rows.extend(estimates(name, model, data))
    table = pd.DataFrame(rows).rename(columns={"source": "from", "target": "to"})
    table.to_csv(HERE / "plspm_ecsi_estimates.csv", index=False, float_format="%.12g")
    print(table[table["kind"] == "path"].pivot(index=["from", "to"], columns="case",
                                                values="value").round(4))
    boot = bootstrap_table(data)
    boot.to_csv(HERE / "plspm_ecsi_bootstrap.csv", index=False, float_format="%.12g")
    print(boot.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
