"""Analytics called from several threads at once (a server's request threads beside its warm-up
and job threads) each get an answer: a DuckDB connection serves one call at a time and refuses a
second ("connection is busy"), which answered the Retention page with HTTP 500 while the server
was filling its figures in the background."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from qualityloop.analytics import engine
from qualityloop.analytics.retention import rfm_summary


def _orders(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = 50_000
    return pd.DataFrame({
        "customer_id": rng.integers(0, 2_000, size),
        "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, size), "D"),
        "amount": rng.gamma(2.0, 30.0, size).round(2),
    })


def test_threads_run_analytics_at_the_same_time():
    orders = _orders(7)
    expected = rfm_summary(orders, "customer_id", "date", monetary="amount")
    start = threading.Barrier(4)
    problems: list[str] = []
    answers: list[pd.DataFrame] = []

    def work() -> None:
        start.wait()
        try:
            for _ in range(8):
                answers.append(rfm_summary(orders, "customer_id", "date", monetary="amount"))
        except Exception as error:  # collected: an exception in a thread would go unseen
            problems.append(repr(error))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert problems == []
    assert len(answers) == 32
    for answer in answers:
        pd.testing.assert_frame_equal(answer, expected)


def test_each_thread_has_its_own_duckdb_connection(monkeypatch):
    monkeypatch.delenv(engine.ENGINE_VARIABLE, raising=False)
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(engine.default_connection()))
    thread.start()
    thread.join()
    here = engine.default_connection()
    assert here is engine.default_connection()
    assert seen[0] is not here


def test_duckdb_draws_no_progress_bar():
    """A long query must not draw on the terminal of a server or a command printing JSON."""
    con = engine.connect("duckdb")
    assert con.raw_sql("SELECT current_setting('enable_progress_bar')").fetchall() == [(False,)]
