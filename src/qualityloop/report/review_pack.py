"""The management review pack (ISO 9001 9.3.2 inputs) as a report document, built from the
figures :func:`qualityloop.services.management_review.pack_figures` reads from the records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from qualityloop.report.charts import to_svg
from qualityloop.report.document import Figure, Finding, Paragraph, ReportDocument, Table
from qualityloop.report.qms_charts import monthly_lines
from qualityloop.services.training import DUE_WITHIN_DAYS

if TYPE_CHECKING:
    import datetime as dt

    from qualityloop.services.management_review import PackFigures

SECTIONS = (("objectives", "Quality objectives"),
            ("customers", "Customer feedback and complaints"),
            ("problems", "Nonconformities and corrective actions"),
            ("training", "Training and competence"),
            ("retention", "Customer retention"),
            ("spc", "Process signals (SPC)"),
            ("changes", "Changes to the quality system"),
            ("actions", "Actions from earlier reviews"))


def review_pack(start: dt.date, end: dt.date, figures: PackFigures | None = None,
                **reading: Any) -> ReportDocument:
    """The review pack for ``start`` .. ``end``: the findings, then one section per input.

    ``reading`` goes to :func:`~qualityloop.services.management_review.pack_figures` when
    ``figures`` is not given. Section anchors: ``objectives``, ``customers``, ``problems``,
    ``training``, ``retention``, ``spc``, ``changes``, ``actions``.
    """
    from qualityloop.services.management_review import pack_figures

    found = figures or pack_figures(start, end, **reading)
    document = ReportDocument(
        title="Management review pack",
        subtitle=f"ISO 9001 9.3 inputs from the records, {start:%d %b %Y} to {end:%d %b %Y}"
        + (f", covering {found.unit.external_id} and below" if found.unit else ""),
        findings=findings(found))
    for anchor, title in SECTIONS:
        BUILDERS[anchor](document.section(title, anchor), found)
    document.notes.append("Counts are of records dated in the period; open items, coverage and "
                          "objective status are taken on its last day.")
    return document


def findings(f: PackFigures) -> list[Finding]:
    """The headline sentences of the pack."""
    said = []
    counts = f.objective_counts
    judged = sum(counts.values())
    if judged:
        good = counts.get("on_track", 0) + counts.get("achieved", 0)
        said.append(Finding(f"{good} of {judged} quality objectives are on track or achieved; "
                            f"{counts.get('at_risk', 0)} at risk, {counts.get('missed', 0)} "
                            "missed.", "strong" if good >= judged * 0.8 else "moderate"))
    nps = f.feedback["nps"].dropna()
    if len(nps):
        said.append(Finding(f"NPS went from {nps.iloc[0]:+.0f} to {nps.iloc[-1]:+.0f} over the "
                            "period (monthly).", "moderate"))
    if f.capa.get("due"):
        said.append(Finding(f"{f.capa['on_time']} of {f.capa['due']} corrective actions due were "
                            f"completed on time; {f.capa['overdue_at_end']} are overdue now.",
                            "moderate"))
    return said


def objectives(section: Any, f: PackFigures) -> None:
    counts = pd.DataFrame([{"status": k.replace("_", " ").capitalize(), "objectives": v}
                           for k, v in f.objective_counts.items()])
    section.add(Paragraph("Objectives running in the period (due after its start), each judged "
                          "on its last day from its own measurements."))
    section.add(Table(counts, "Objectives by status", index=False))
    watch = f.objectives[f.objectives["status"].isin(["At risk", "Missed"])]
    if len(watch):
        section.add(Table(watch.head(20), "At risk or missed (first 20 by due date)",
                          {"latest": ",.2f", "target": ",.2f"}, index=False))


def customers(section: Any, f: PackFigures) -> None:
    feedback = f.feedback
    section.add(Table(feedback.assign(month=feedback["month"].dt.strftime("%Y-%m")),
                      "Feedback per month: NPS (-100..100), mean CSAT (1-5), mean CES (1-7)",
                      {"nps": "+.0f", "csat": ".2f", "ces": ".2f"}, index=False))
    shown = feedback.dropna(subset=["nps"])
    if len(shown) >= 2:
        section.add(Figure(to_svg(monthly_lines(shown, "nps", "NPS per month", "NPS", "+.0f")),
                           "Net Promoter Score of the responses received each month."))
    c = f.complaints
    median = (f"{c['median_days_to_resolve']:.1f} days" if c["median_days_to_resolve"] is not None
              else "no complaint resolved")
    section.add(Paragraph(
        f"Complaints: {c['received']} received and {c['resolved']} resolved in the period "
        f"(median time to resolve: {median}); {c['open_at_end']} open at its end."))
    if c["top_categories"]:
        section.add(Table(pd.DataFrame(c["top_categories"], columns=["category", "complaints"]),
                          "Most frequent complaint categories", index=False))


def problems(section: Any, f: PackFigures) -> None:
    table = f.nonconformances
    section.add(Table(table.assign(month=table["month"].dt.strftime("%Y-%m")),
                      "Nonconformances detected per month, by lifecycle stage", index=False))
    if len(table) >= 2:
        # Not "count" as the series name: Vega-Lite then draws no line for it.
        stages = table.rename(columns={"total": "all", "field": "found in the field"}).melt(
            id_vars="month", value_vars=["all", "found in the field"], var_name="which",
            value_name="nonconformances")
        section.add(Figure(to_svg(monthly_lines(
            stages, "nonconformances", "Nonconformances per month", "Detected", "d",
            series="which")), "All nonconformances detected each month, and those found in the "
                              "field (at the customer)."))
    c = f.capa
    share = f"{c['on_time_share']:.0%}" if c["on_time_share"] is not None else "–"
    section.add(Paragraph(
        f"Corrective actions due in the period: {c['due']}, of which {c['on_time']} on time "
        f"({share}). Effectiveness checks: {c['verified_effective']} effective, "
        f"{c['found_ineffective']} ineffective. Nonconformances closed: {c['ncs_closed']}; open "
        f"at the end: {c['ncs_open_at_end']}; actions overdue: {c['overdue_at_end']}."))


def training(section: Any, f: PackFigures) -> None:
    t = f.training
    coverage = t["problem_recognition_coverage"]
    shown = f"{coverage:.0%}" if coverage == coverage else "–"  # NaN without people
    section.add(Paragraph(
        f"{t['completed']} training records completed in the period ({t['passed']} passed). "
        f"Problem-recognition coverage at the end: {shown} of {t['people']} active people. "
        f"Expired: {t['expired_at_end']}; re-training due within {DUE_WITHIN_DAYS} days: "
        f"{t['due_soon_at_end']}."))


def retention(section: Any, f: PackFigures) -> None:
    h = f.retention
    if h is None:
        section.add(Paragraph(f"No retention figures: {f.retention_problem}."))
        return
    churn = (f"{h['churn_rate']:.1%} (the month from {h['churn_period']})"
             if h["churn_rate"] is not None
             else "not yet measurable")
    section.add(Paragraph(
        f"{h['customers']:,} customers placed {h['orders']:,} orders; repeat purchase rate "
        f"{h['repeat_purchase_rate']:.1%}; churn rate of the latest complete month: {churn}. "
        "(All orders to date, as on the retention page.)"))


def spc(section: Any, f: PackFigures) -> None:
    if len(f.spc_signals):
        section.add(Table(f.spc_signals, "Control-chart signals in the period", index=False))
    else:
        section.add(Paragraph("No control-chart signal in the period."))
    if f.spc_problem:
        section.add(Paragraph(f"Not charted: {f.spc_problem}."))


def changes(section: Any, f: PackFigures) -> None:
    c = f.changes
    section.add(Paragraph(
        f"Change requests: {c['requested']} requested ({c['rejected']} of them rejected), "
        f"{c['approved']} approved, {c['implemented']} implemented and {c['verified']} verified "
        "in the period."))


def actions(section: Any, f: PackFigures) -> None:
    frame = f.review_actions
    open_ones = frame[~frame["status"].isin(["Verified effective", "Cancelled",
                                             "Done, awaiting effectiveness check"])]
    if not len(frame):
        section.add(Paragraph("No actions have been recorded by management reviews yet."))
        return
    overdue = int(frame["overdue"].sum())
    section.add(Paragraph(f"{len(frame)} review actions in all; {len(open_ones)} still open, "
                          f"{overdue} overdue."))
    if len(open_ones):
        section.add(Table(open_ones.assign(overdue=open_ones["overdue"].map(
            {True: "overdue", False: ""})), "Open review actions", index=False))


BUILDERS = {"objectives": objectives, "customers": customers, "problems": problems,
            "training": training, "retention": retention, "spc": spc, "changes": changes,
            "actions": actions}
