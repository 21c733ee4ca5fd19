"""Produce the lifetimes reference for ``rfm_summary`` on the CDNOW transaction log.

lifetimes (archived) clashes with our pins, so run this in a virtual environment of its own::

    python3 -m venv /tmp/rfm-peers-venv
    /tmp/rfm-peers-venv/bin/pip install lifetimes==0.11.3 'pandas<2' 'numpy<2' 'pyarrow<16' \
        'setuptools<81'
    /tmp/rfm-peers-venv/bin/python tests/reference/make_cdnow_rfm_reference.py

It writes ``tests/reference/cdnow_rfm_<freq>_<end>.csv.gz`` for freq D and W, with monetary
value (the ``dollar_value`` column), once with the calibration end used throughout the
literature (1997-09-30) and once with lifetimes' default end (the last transaction date).
Floats are written with 17 significant digits so that they read back exactly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from lifetimes.utils import summary_data_from_transaction_data

HERE = Path(__file__).resolve().parent
CDNOW = HERE.parent / "data" / "cdnow" / "CDNOW_master.txt"
ENDS = {"19970930": "1997-09-30", "last": None}


def load_cdnow() -> pd.DataFrame:
    frame = pd.read_csv(CDNOW, sep=r"\s+")
    frame["date"] = pd.to_datetime(frame["date"].astype(str), format="%Y%m%d")
    return frame


def main() -> None:
    transactions = load_cdnow()
    for freq in ("D", "W"):
        for label, end in ENDS.items():
            summary = summary_data_from_transaction_data(
                transactions, "customer_id", "date", monetary_value_col="dollar_value",
                observation_period_end=end, freq=freq,
            )
            out = HERE / f"cdnow_rfm_{freq}_{label}.csv.gz"
            summary.to_csv(out, float_format="%.17g")
            print(f"{out.name}: {len(summary)} customers")


if __name__ == "__main__":
    main()
