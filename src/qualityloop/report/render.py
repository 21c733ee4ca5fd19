"""Render a :class:`~qualityloop.report.document.ReportDocument` to one self-contained HTML file,
and that HTML to PDF with a headless Chromium.

The HTML has its styles inline and its charts as inline SVG: it opens offline, can be mailed as a
single file, and prints the same way the PDF looks.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.template import Context, Engine
from django.utils.safestring import mark_safe

from qualityloop.report.document import Figure, Paragraph, ReportDocument, Table

TEMPLATES = Path(__file__).parent / "templates"
PDF_TIMEOUT_SECONDS = 120
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class ReportError(RuntimeError):
    """The report could not be written; the message says what to do."""


@dataclass(frozen=True)
class _RenderedTable:
    caption: str
    header: list[str]
    rows: list[list[str]]


def render_html(document: ReportDocument) -> str:
    """The report as one HTML page with inline styles and SVG charts (no network needed)."""
    engine = Engine(dirs=[str(TEMPLATES)], autoescape=True)
    template = engine.get_template("report/document.html")
    styles = (TEMPLATES / "report" / "report.css").read_text(encoding="utf-8")
    return template.render(Context({"doc": document, "sections": document_sections(document),
                                    "styles": mark_safe(styles)}))  # noqa: S308 - our own file


def document_sections(document: ReportDocument) -> list[dict[str, Any]]:
    """The sections ready for a template: title, anchor and blocks (kind ``paragraph``,
    ``figure`` or ``table``; tables formatted). Shared by the HTML report and the web pages."""
    return [
        {"title": s.title, "anchor": s.anchor, "blocks": [_block(b) for b in s.blocks]}
        for s in document.sections
    ]


def _block(block: Paragraph | Figure | Table) -> dict[str, Any]:
    if isinstance(block, Paragraph):
        return {"kind": "paragraph", "text": block.text}
    if isinstance(block, Figure):
        # The SVG comes from vl-convert rendering our own chart specifications.
        return {"kind": "figure", "svg": mark_safe(block.svg), "caption": block.caption}  # noqa: S308
    return {"kind": "table", "table": _table(block)}


def _table(table: Table) -> _RenderedTable:
    frame = table.frame.reset_index() if table.index else table.frame
    header = [str(c) for c in frame.columns]
    rows = [
        [_cell(value, table.formats.get(str(column), "")) for column, value in zip(
            frame.columns, values, strict=True)]
        for values in frame.itertuples(index=False, name=None)
    ]
    return _RenderedTable(caption=table.caption, header=header, rows=rows)


def _cell(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if spec and isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(value, spec)
    if isinstance(value, float):
        return format(value, ".3g")
    return str(value)


def write_html(document: ReportDocument, path: Path) -> Path:
    """Write the HTML report to ``path`` through a temporary file: a failure leaves no half file."""
    _write_atomically(path, render_html(document).encode("utf-8"))
    return path


def write_pdf(document: ReportDocument, path: Path) -> Path:
    """Print the same HTML to PDF with a headless Chromium (Debian's ``chromium`` package).

    Raises
    ------
    ReportError
        When no Chromium is installed or printing fails.
    """
    browser = find_browser()
    with tempfile.TemporaryDirectory(prefix="qualityloop-report-") as work:
        html = Path(work) / "report.html"
        html.write_text(render_html(document), encoding="utf-8")
        pdf = Path(work) / "report.pdf"
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu",
                   "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.as_uri()]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=PDF_TIMEOUT_SECONDS)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as problem:
            raise ReportError(f"{browser} could not print the report to PDF: {problem}") from None
        if not pdf.exists() or pdf.stat().st_size == 0:
            raise ReportError(f"{browser} wrote no PDF")
        _write_atomically(path, pdf.read_bytes())
    return path


def find_browser() -> str:
    """The Chromium to print with: ``QUALITYLOOP_CHROMIUM`` if set, else the first on the PATH."""
    configured = os.environ.get("QUALITYLOOP_CHROMIUM")
    if configured:
        return configured
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise ReportError(
        "--pdf needs Chromium: install it (Debian/Ubuntu: apt-get install chromium) or set "
        "QUALITYLOOP_CHROMIUM to the browser's path; the HTML report needs nothing"
    )


def _write_atomically(path: Path, content: bytes) -> None:
    path = Path(path)
    if not path.parent.exists():
        raise ReportError(f"cannot write {path}: the folder {path.parent} does not exist")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.chmod(temporary, 0o644)  # mkstemp makes it private (0600); a report is for sharing
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
