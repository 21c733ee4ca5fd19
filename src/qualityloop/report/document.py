"""What a report is made of, independent of how it is rendered.

A :class:`ReportDocument` is a title, the answer in plain words (``findings``) and sections of
evidence. Each section holds blocks in reading order: paragraphs, figures (inline SVG) and tables
(pandas DataFrames). Builders such as ``report.relationship`` fill one in; ``report.render`` turns
it into one self-contained HTML file (and a PDF of the same HTML).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Paragraph:
    """Plain text; the renderer escapes it."""

    text: str


@dataclass(frozen=True)
class Figure:
    """A chart as inline SVG (see ``report.charts.to_svg``) with a caption saying how to read it."""

    svg: str
    caption: str


@dataclass(frozen=True)
class Table:
    """A DataFrame shown as a table; ``formats`` maps column names to specs like ``".2f"``."""

    frame: pd.DataFrame
    caption: str = ""
    formats: dict[str, str] = field(default_factory=dict)
    index: bool = True


Block = Paragraph | Figure | Table


@dataclass
class Section:
    """A titled part of the report; ``anchor`` is its id in the HTML (for the contents list)."""

    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, block: Block) -> Section:
        self.blocks.append(block)
        return self


@dataclass(frozen=True)
class Finding:
    """One sentence of the answer and how sure it is: ``"strong"``, ``"moderate"`` or ``"weak"``."""

    text: str
    strength: str = "moderate"


@dataclass
class ReportDocument:
    """A whole report: the answer first (``findings``), then the evidence (``sections``)."""

    title: str
    subtitle: str = ""
    organisation: str = ""
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    findings: list[Finding] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def section(self, title: str, anchor: str) -> Section:
        """Append a new, empty section and return it."""
        new = Section(title=title, anchor=anchor)
        self.sections.append(new)
        return new
