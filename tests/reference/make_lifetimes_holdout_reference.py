"""lifetimes' calibration_and_holdout_data on the CDNOW log, the reference for
``calibration_holdout_split``. Run in a virtual environment of its own (lifetimes clashes with
our pins)::

    python3 -m venv /tmp/peers-venv
    /tmp/peers-venv/bin/pip install lifetimes 'pandas<2' 'numpy<2' 'scipy<1.14' 'setuptools<81'
    /tmp/peers-venv/bin/python tests/reference/make_lifetimes_holdout_reference.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from lifetimes.utils import calibration_and_holdout_data

HERE = Path(__file__).resolve().parent
CDNOW = HERE.parent / "data" / "cdnow" / "CDNOW_master.txt"


def main() -> None:
    log = pd.read_csv(CDNOW, sep=r"\s+")
    log["date"] = pd.to_datetime(log["date"].astype(str), format="%Y%m%d")
    for freq in ("D", "W"):
        split = calibration_and_holdout_data(
            log, "customer_id", "date", calibration_period_end="1997-09-30",
            observation_period_end="1998-06-30", freq=freq, monetary_value_col="dollar_value")
        out = HERE / f"cdnow_holdout_{freq}.csv.gz"
        split.to_csv(out, float_format="%.17g")
        print(out.name, len(split))


if __name__ == "__main__":
    main()
