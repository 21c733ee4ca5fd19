"""The report renderer: one self-contained HTML file, escaped text, tables formatted, PDF via
Debian's chromium, and no half-written file when something goes wrong."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest

from qualityloop.report import charts
from qualityloop.report.document import Figure, Finding, Paragraph, ReportDocument, Table
from qualityloop.report.render import ReportError, render_html, write_html, write_pdf


def _document() -> ReportDocument:
    doc = ReportDocument(title="TQM and retention", subtitle="Halvorsen <Precision> Drives",
                         organisation="Halvorsen")
    doc.findings.append(Finding("Customers who met a field defect left 1.9x as fast.", "strong"))
    frame = pd.DataFrame({"hazard_ratio": [1.6123, 2.04], "p": [0.00012, 0.5]},
                         index=pd.Index(["field_defects", "open_complaint"], name="exposure"))
    spend = pd.Series([120.0, 80.0, 95.0, 300.0, 42.0, 77.0], name="spend")
    svg = charts.to_svg(charts.histogram_chart(spend, "Spend", "EUR"))
    section = doc.section("Hazard ratios", "hazards")
    section.add(Paragraph("Exposure <b>matters</b> & so does time."))
    section.add(Table(frame, caption="Cox model", formats={"hazard_ratio": ".2f", "p": ".3f"}))
    section.add(Figure(svg, "Spend per order"))
    doc.notes.append("Efron ties.")
    return doc


def test_html_is_self_contained_and_escaped():
    html = render_html(_document())
    assert "<svg" in html
    assert not re.search(r"""(src|href)=["']https?://""", html), "report must open offline"
    assert "<script" not in html
    assert "Exposure &lt;b&gt;matters&lt;/b&gt; &amp; so does time." in html
    assert "Halvorsen &lt;Precision&gt; Drives" in html
    assert "<td>1.61</td>" in html and "<td>0.000</td>" in html
    assert html.index("The answer") < html.index("Hazard ratios</h2>")
    assert 'href="#hazards"' in html


def test_short_tables_are_kept_whole_on_a_printed_page():
    doc = _document()
    long = pd.DataFrame({"value": range(40)}, index=pd.Index(range(40), name="row"))
    doc.section("Long", "long").add(Table(long, caption="Forty rows"))
    html = render_html(doc)
    assert html.count('class="table-wrap short"') == 1  # the two-row Cox table
    assert html.count('class="table-wrap"') == 1  # the long one breaks, repeating its header
    assert "thead { display: table-header-group; }" in html


def test_write_html_refuses_missing_folder_and_leaves_nothing(tmp_path):
    target = tmp_path / "missing" / "report.html"
    with pytest.raises(ReportError, match="does not exist"):
        write_html(_document(), target)
    assert not target.parent.exists()


def test_write_html_replaces_atomically(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("old")
    write_html(_document(), target)
    assert target.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert target.stat().st_mode & 0o044, "a written report is readable by others, like any file"


def test_pdf_without_browser_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("QUALITYLOOP_CHROMIUM", raising=False)
    with pytest.raises(ReportError, match="apt-get install chromium"):
        write_pdf(_document(), tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()


@pytest.mark.browser
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_pdf_is_printed_by_chromium(tmp_path):
    target = write_pdf(_document(), tmp_path / "report.pdf")
    content = target.read_bytes()
    assert content.startswith(b"%PDF")
    assert len(content) > 5_000
