"""The scale benchmark's data generator and its pandas peers (benchmarks/retention_scale.py).

The peers' speed is only worth comparing if they compute the same tables as the library, so they
are checked against rfm_summary and cohort_retention here on a small cached file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _transactions  # noqa: E402
import retention_scale  # noqa: E402

ROWS = 20_000


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Chunks smaller than the file: the chunked writing is what runs.
    return _transactions.transactions_file(
        ROWS, folder=tmp_path_factory.mktemp("data"), chunk_rows=7_000)


def test_generated_file_has_the_rows_and_columns_asked_for(small_file: Path) -> None:
    log = pd.read_parquet(small_file)
    assert len(log) == ROWS
    assert list(log.columns) == ["customer_id", "date", "spend"]
    assert log["customer_id"].between(0, ROWS // 10 - 1).all()
    assert log["date"].min() >= pd.Timestamp("2023-01-01")
    assert log["date"].max() <= pd.Timestamp("2023-01-01") + pd.Timedelta(days=760)
    assert (log["date"] == log["date"].dt.floor("D")).all()
    assert pq.ParquetFile(small_file).metadata.num_rows == ROWS


def test_generated_file_is_reused_and_reproducible(small_file: Path, tmp_path: Path) -> None:
    stamp = small_file.stat().st_mtime_ns
    again = _transactions.transactions_file(ROWS, folder=small_file.parent, chunk_rows=7_000)
    assert again == small_file and again.stat().st_mtime_ns == stamp
    fresh = _transactions.transactions_file(ROWS, folder=tmp_path, chunk_rows=7_000)
    pd.testing.assert_frame_equal(pd.read_parquet(fresh), pd.read_parquet(small_file))
    other_seed = _transactions.transactions_file(ROWS, seed=2, folder=tmp_path, chunk_rows=7_000)
    assert not pd.read_parquet(other_seed).equals(pd.read_parquet(small_file))


def test_pandas_rfm_peer_computes_the_library_table(small_file: Path) -> None:
    ours = retention_scale.ours_rfm(small_file)
    peer = retention_scale.pandas_rfm(small_file)
    assert len(ours) > 1000 and (ours["frequency"] > 0).any()
    retention_scale.same_table(ours, peer)


def test_pandas_cohort_peer_computes_the_library_table(small_file: Path) -> None:
    ours = retention_scale.ours_cohort(small_file)
    peer = retention_scale.pandas_cohort(small_file)
    assert ours.shape[0] > 12 and ours.isna().any().any()  # unobservable cells are NaN
    retention_scale.same_table(ours, peer)


def test_same_table_fails_on_a_different_cell(small_file: Path) -> None:
    ours = retention_scale.ours_cohort(small_file)
    changed = ours.copy()
    changed[changed.columns[1]] += 1
    with pytest.raises(AssertionError):
        retention_scale.same_table(ours, changed)


def test_peer_is_skipped_above_its_cap_or_without_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention_scale, "LIFETIMES_PYTHON", sys.executable)
    assert retention_scale.skip_reason("lifetimes-rfm", 10, lifetimes_max=100) is None
    assert "lifetimes-max" in str(retention_scale.skip_reason("lifetimes-rfm", 1000, 100))
    monkeypatch.setattr(retention_scale, "available_bytes", lambda: 2**30)
    assert "GiB" in str(retention_scale.skip_reason("pandas-rfm", 50_000_000, 0))
    assert retention_scale.skip_reason("pandas-rfm", 1000, 0) is None


def test_scanned_bytes_counts_eight_bytes_per_value() -> None:
    assert _transactions.scanned_bytes(1000, ["customer_id", "date"]) == 16_000
