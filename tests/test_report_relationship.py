"""The relationship report: the answer first with the planted field-defect effect inside its
interval, evidence in every section, one self-contained HTML file, the ``qualityloop report``
command (files, headline, JSON, clear errors) and the PDF."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from typer.testing import CliRunner

from qualityloop.cli import app
from qualityloop.report import relationship_charts
from qualityloop.report.charts import to_svg
from qualityloop.report.document import Figure, Table
from qualityloop.report.render import render_html, write_pdf

DEMO_AS_OF = dt.date(2026, 11, 25)
DEMO_CUSTOMERS = 1000
PLANTED_FIELD_DEFECT_HR = 1.6  # docs/demo-model.md
SECTIONS = ["drivers", "survival", "unit-link", "tqm", "retention", "actions"]


# charts on hand-made numbers (fast) ------------------------------------------------------------

def _summary() -> pd.DataFrame:
    return pd.DataFrame({"label": ["Field defects met", "Took part in a design review"],
                         "hazard_ratio": [1.6, 0.8], "lower": [1.4, 0.5], "upper": [1.8, 1.3]},
                        index=["field_defects", "took_part_in_design"])


def test_forest_plot_draws_every_row_with_its_interval_on_a_log_axis():
    spec = relationship_charts.forest_chart(_summary()).to_dict()
    layers = spec["layer"]
    bars = next(layer for layer in layers if layer["mark"]["type"] == "rule"
                and "x2" in layer["encoding"])
    assert bars["encoding"]["x"]["scale"]["type"] == "log"
    assert bars["encoding"]["x"]["field"] == "lower" and bars["encoding"]["x2"]["field"] == "upper"
    svg = to_svg(relationship_charts.forest_chart(_summary()))
    for text in ("Field defects met", "Took part in a design review", "1.60 (1.40-1.80)",
                 "0.80 (0.50-1.30)"):
        assert text in svg
    # the x domain reaches past both intervals and 1
    domain = bars["encoding"]["x"]["scale"]["domain"]
    assert domain[0] < 0.5 and domain[1] > 1.8


def test_path_diagram_labels_every_path_and_marks_uncertain_ones():
    paths = pd.DataFrame({"from": ["TQM", "Quality", "Satisfaction"],
                          "to": ["Quality", "Satisfaction", "Retention"],
                          "coefficient": [0.66, 0.84, 0.43], "lower": [0.61, 0.64, -0.10],
                          "upper": [0.79, 0.94, 0.87]})
    svg = relationship_charts.path_diagram_svg(
        paths, pd.Series({"Quality": 0.43, "Satisfaction": 0.71, "Retention": 0.24}),
        {"TQM": "TQM <implementation>"})
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<line") == 3
    assert "+0.66" in svg and "[+0.61, +0.79]" in svg and "[-0.10, +0.87]" in svg
    assert svg.count('stroke-dasharray="6 4"') == 1  # only the interval that spans 0
    assert "TQM &lt;implementation&gt;" in svg and "R² 0.71" in svg


def test_path_diagram_without_bootstrap_says_so():
    paths = pd.DataFrame({"from": ["A"], "to": ["B"], "coefficient": [0.5], "lower": [np.nan],
                          "upper": [np.nan]})
    assert "no interval" in relationship_charts.path_diagram_svg(paths)


# CLI errors (fast) -----------------------------------------------------------------------------

@pytest.mark.django_db
def test_cli_without_orders_says_so(tmp_path):
    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "r.html"), "--json"])
    assert result.exit_code == 1, result.output
    assert "no orders in the database" in json.loads(result.stdout)["error"]
    assert not (tmp_path / "r.html").exists()


def test_cli_missing_folder_and_bad_date_are_clear_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--out", str(tmp_path / "nope" / "r.html"), "--json"])
    assert result.exit_code == 1
    assert "does not exist" in json.loads(result.stdout)["error"]
    result = runner.invoke(app, ["report", "--out", str(tmp_path / "r.html"), "--as-of",
                                 "25.11.2026", "--json"])
    assert result.exit_code == 1
    assert "--as-of: expected a date" in json.loads(result.stdout)["error"]


def test_cli_pdf_without_chromium_fails_before_computing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("QUALITYLOOP_CHROMIUM", raising=False)
    result = CliRunner().invoke(app, ["report", "--pdf", "--out", str(tmp_path / "r.html"),
                                      "--json"])
    assert result.exit_code == 1
    assert "apt-get install chromium" in json.loads(result.stdout)["error"]
    assert not (tmp_path / "r.html").exists()


# the report on a small demo (built once per module) ---------------------------------------------

@pytest.fixture(scope="module")
def report(django_db_setup, django_db_blocker):
    """A 1,000-customer demo, its (cached) answer and the report document."""
    from django.core.cache import cache

    from qualityloop.report.relationship import build_relationship_report
    from qualityloop.services.demo import generate_demo
    from qualityloop.services.relationship import relationship_answer

    with django_db_blocker.unblock():
        cache.clear()
        generate_demo(n_customers=DEMO_CUSTOMERS, seed=7, as_of=DEMO_AS_OF)
        answer = relationship_answer(as_of=DEMO_AS_OF)  # cached: the CLI test reuses it
        document = build_relationship_report(as_of=DEMO_AS_OF)
        yield answer, document
        cache.clear()
        call_command("flush", interactive=False, verbosity=0)


@pytest.mark.django_db
def test_findings_state_the_field_defect_hazard_ratio_with_the_planted_value_inside(report):
    answer, document = report
    row = answer.drivers.summary.loc["field_defects"]
    assert row["lower"] <= PLANTED_FIELD_DEFECT_HR <= row["upper"], (
        f"planted {PLANTED_FIELD_DEFECT_HR} outside ({row['lower']:.2f}, {row['upper']:.2f})")
    first = document.findings[0]
    assert first.text.startswith("Customers who met a field defect left")
    assert first.strength == "strong"
    # the sentence carries the fitted figures, not hard-coded ones
    numbers = [float(n) for n in re.findall(r"\d+\.\d+", first.text)]
    assert numbers == pytest.approx([row["hazard_ratio"], row["lower"], row["upper"]], abs=0.051)
    assert [f.text for f in document.findings[:len(answer.headline)]] == answer.headline
    assert any("would still be with us" in f.text for f in document.findings)


@pytest.mark.django_db
def test_every_section_has_a_figure_or_a_table_and_notes_give_the_sizes(report):
    answer, document = report
    assert [s.anchor for s in document.sections] == SECTIONS
    for section in document.sections:
        assert any(isinstance(b, Figure | Table) for b in section.blocks), section.title
    drivers = next(s for s in document.sections if s.anchor == "drivers")
    table = next(b for b in drivers.blocks if isinstance(b, Table)).frame
    assert len(table) == len(answer.drivers.summary)
    notes = " ".join(document.notes)
    assert "Efron" in notes and "clustered by customer" in notes
    assert f"{answer.drivers.customers:,} customers, {answer.drivers.events:,} churns" in notes
    if answer.unit_link is not None:
        assert f"{answer.unit_link.bootstrap:,} bootstrap resamples" in notes
    actions = next(s for s in document.sections if s.anchor == "actions")
    ranked = next(b for b in actions.blocks if isinstance(b, Table)).frame
    assert ranked["Lifetime value at risk"].is_monotonic_decreasing


@pytest.mark.django_db
def test_html_is_one_self_contained_file(report):
    html = render_html(report[1])
    assert not re.search(r"""(src|href)=["']https?://""", html), "must open offline"
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert html.count("<svg") >= 6
    assert html.index("The answer") < html.index('id="drivers"')
    for anchor in SECTIONS:
        assert f'id="{anchor}"' in html


@pytest.mark.django_db
def test_cli_writes_the_file_and_prints_the_headline(report, tmp_path, monkeypatch):
    answer, _ = report
    runner = CliRunner()
    target = tmp_path / "tqm.html"
    result = runner.invoke(app, ["report", "--out", str(target), "--as-of", "2026-11-25",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["html"] == str(target) and data["pdf"] is None
    assert data["headline"][:len(answer.headline)] == answer.headline
    assert target.read_text(encoding="utf-8").startswith("<!doctype html>")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["report", "--as-of", "2026-11-25"])
    assert result.exit_code == 0, result.output
    assert f"Wrote {tmp_path / 'qualityloop-report.html'}" in result.stdout
    assert answer.headline[0] in result.stdout.replace("\n", " ") or answer.headline[0][:40] in (
        result.stdout)
    result = runner.invoke(app, ["report", "--unit", "NOPE", "--as-of", "2026-11-25", "--json"])
    assert result.exit_code == 1
    assert "no org unit with external id 'NOPE'" in json.loads(result.stdout)["error"]
    # the demo's Quality Management department serves no customers
    result = runner.invoke(app, ["report", "--unit", "UNIT-04", "--as-of", "2026-11-25",
                                 "--out", str(tmp_path / "qm.html"), "--json"])
    assert result.exit_code == 1
    assert "Quality Management (UNIT-04) and the units below it serve no customers" in (
        json.loads(result.stdout)["error"])


@pytest.mark.browser
@pytest.mark.django_db
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_pdf_holds_the_report(report, tmp_path):
    content = write_pdf(report[1], tmp_path / "report.pdf").read_bytes()
    assert content.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", content))
    assert pages >= 4, f"{pages} pages: the report has six sections of charts and tables"
