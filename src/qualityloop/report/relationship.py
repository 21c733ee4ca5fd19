"""The relationship report: what is the relationship between our TQM implementation and our
customer retention?

:func:`build_relationship_report` turns :func:`qualityloop.services.relationship.
relationship_answer` (and the retention, assessment and TQM index services) into a
:class:`~qualityloop.report.document.ReportDocument`: the answer in plain words first, then the
evidence, then how it was computed. ``report.render`` writes it as one HTML file or a PDF; the
Relationship page shows the same document inside the app. Every number in a sentence comes from
the result objects.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pandas as pd

from qualityloop.report import charts, relationship_charts
from qualityloop.report.document import Figure, Finding, Paragraph, ReportDocument, Table

if TYPE_CHECKING:
    from qualityloop.records.organisation.models import OrgUnit
    from qualityloop.services.relationship import Answer, DriverResult, UnitLinkResult

TITLE = "TQM implementation and customer retention"
SURVIVAL_PANELS = 4
ACTIONS_SHOWN = 15
FIRST_ACTIONS = 3
INDEX_PERIOD = "year"


def build_relationship_report(*, unit: OrgUnit | None = None, as_of: dt.date | None = None,
                              answer: Answer | None = None) -> ReportDocument:
    """The relationship report for the organisation or one unit.

    Parameters
    ----------
    unit : OrgUnit, optional
        Only the customers this unit (and the units below it) serves; the unit-level link
        always compares every unit.
    as_of : date, optional
        The day the records are read up to (default today).
    answer : Answer, optional
        An answer already computed for the same unit and day (default: the cached
        :func:`~qualityloop.services.relationship.relationship_answer`).

    Returns
    -------
    ReportDocument
        Findings (the headline sentences), six sections of evidence (customer-level drivers,
        survival by exposure, the unit-level link, TQM implementation, retention, ranked
        actions) and notes on method.

    Raises
    ------
    qualityloop.services.relationship.RelationshipError
        Too few churns to say anything (the message says how many).
    """
    from qualityloop.services.relationship import relationship_answer

    if answer is None:
        _check_serves_customers(unit)
        answer = relationship_answer(as_of=as_of, unit=unit)
    scope = f"{unit.name} and the units below it" if unit is not None else "The whole organisation"
    doc = ReportDocument(title=TITLE, subtitle=f"{scope}, records up to {answer.as_of:%d %B %Y}",
                         organisation=_organisation_name())
    doc.findings.extend(findings(answer))
    _drivers_section(doc, answer.drivers)
    _survival_section(doc, answer.drivers)
    _unit_link_section(doc, answer)
    _tqm_section(doc, unit, answer.as_of)
    window = _retention_section(doc, unit, answer.as_of)
    _actions_section(doc, answer)
    doc.notes.extend(method_notes(answer, window))
    return doc


def _check_serves_customers(unit: OrgUnit | None) -> None:
    """A unit that serves no customers has nothing to answer: say so in its own words."""
    from qualityloop.records.customers.models import Customer
    from qualityloop.services.relationship import RelationshipError

    if unit is None:
        return
    units = [unit, *unit.descendants()]
    if not Customer.objects.filter(serving_unit__in=units).exists():
        raise RelationshipError(f"{unit.name} ({unit.external_id}) and the units below it serve "
                                "no customers; choose a unit that does, or the whole "
                                "organisation")


def _organisation_name() -> str:
    from qualityloop.records.organisation.models import OrgUnit

    root = OrgUnit.objects.filter(parent=None).order_by("pk").first()
    return root.name if root is not None else ""


# the answer ------------------------------------------------------------------------------------

def findings(answer: Answer) -> list[Finding]:
    """The headline sentences, each with how firm it is.

    A hazard ratio whose interval excludes 1 is strong; the what-if and the top priority rest on
    it (moderate); the unit-level link compares few units (weak).
    """
    from qualityloop.services.relationship import driver_sentence

    drivers = {driver_sentence(str(name), row): _excludes(row, 1.0)
               for name, row in answer.drivers.summary.iterrows()}
    top = str(answer.priorities.iloc[0]["external_id"]) if len(answer.priorities) else None
    estimates = {answer.what_if.sentence} if answer.what_if is not None else set()
    result = []
    for sentence in answer.headline:
        if sentence in drivers:
            strength = "strong" if drivers[sentence] else "weak"
        elif sentence in estimates or (top is not None and top in sentence):
            strength = "moderate"
        else:
            strength = "weak"
        result.append(Finding(sentence, strength))
    for part, problem in answer.problems.items():
        result.append(Finding(f"{_PART_NAMES.get(part, part)}: not estimated ({problem}).",
                              "weak"))
    return result


_PART_NAMES = {"unit_link": "The unit-level link", "what_if": "The what-if"}


def _excludes(row: pd.Series, value: float) -> bool:
    return bool(row["lower"] > value or row["upper"] < value)


# (a) customer-level drivers --------------------------------------------------------------------

def _drivers_section(doc: ReportDocument, drivers: DriverResult) -> None:
    from qualityloop.services.relationship import ratio_text

    section = doc.section("Which quality experiences make customers leave sooner", "drivers")
    section.add(Paragraph(
        f"A Cox model on {drivers.customers:,} customers and {drivers.events:,} churns compares "
        "how fast customers left while they had each experience with how fast they left while "
        "they did not. A hazard ratio of 2 means twice as fast; below 1, slower."))
    unclear = []
    for (_name, row), sentence in zip(drivers.summary.iterrows(), drivers.sentences,
                                      strict=True):
        if _excludes(row, 1.0):
            section.add(Paragraph(sentence))
        else:
            unclear.append(f"{row['label'].lower()} ({ratio_text(row['hazard_ratio'])}, "
                           f"{ratio_text(row['lower'])}-{ratio_text(row['upper'])})")
    if unclear:
        section.add(Paragraph("The data cannot tell these apart from no effect: "
                              + "; ".join(unclear) + "."))
    section.add(Figure(
        charts.to_svg(relationship_charts.forest_chart(drivers.summary)),
        "Each row is a quality experience: the diamond is the hazard ratio, the bar its 95% "
        "interval (log scale). Red: the interval excludes 1 (no effect); grey: it does not."))
    section.add(Table(driver_table(drivers), caption="Hazard ratios (Cox model, robust SEs)",
                      formats={"Hazard ratio": ".2f", "95% lower": ".2f", "95% upper": ".2f",
                               "PH check p": ".2f"}, index=False))
    section.add(Paragraph(ph_sentence(drivers)))
    if drivers.left_out:
        section.add(Paragraph("Not estimable here: " + "; ".join(
            f"{_label(name)} ({reason})" for name, reason in drivers.left_out.items()) + "."))


def _label(name: str) -> str:
    from qualityloop.services.relationship import exposure_info

    return exposure_info(name).label


def driver_table(drivers: DriverResult) -> pd.DataFrame:
    """The drivers summary as readers see it, with the proportional-hazards check's p."""
    summary = drivers.summary
    ph_p = drivers.ph_check["p"].reindex(summary.index) if "p" in drivers.ph_check else None
    return pd.DataFrame({
        "Experience": summary["label"].to_numpy(),
        "Hazard ratio": summary["hazard_ratio"].to_numpy(),
        "95% lower": summary["lower"].to_numpy(),
        "95% upper": summary["upper"].to_numpy(),
        "p": [p_text(p) for p in summary["p"]],
        "PH check p": ph_p.to_numpy() if ph_p is not None else float("nan"),
    })


def p_text(p: float) -> str:
    """A p value as people read it: "<0.001", "0.012", "0.45"."""
    if p != p:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def ph_sentence(drivers: DriverResult) -> str:
    """What the proportional-hazards check says, in one sentence."""
    check = drivers.ph_check
    if check.empty or "p" not in check:
        return "The proportional-hazards assumption was not checked."
    violated = check[check["violated"]] if "violated" in check else check[check["p"] < 0.05]
    if violated.empty:
        smallest = check["p"].idxmin()
        return (f"The proportional-hazards check (scaled Schoenfeld residuals against time) "
                f"finds no exposure whose effect changes with time (smallest p = "
                f"{check['p'].min():.2f}, {_label(str(smallest)).lower()}), so one hazard "
                f"ratio per exposure is a fair summary. Concordance {drivers.concordance:.2f}.")
    names = ", ".join(f"{_label(str(n)).lower()} (p = {p:.3f})"
                      for n, p in violated["p"].items())
    return (f"The proportional-hazards check flags {names}: the effect changes with time, so "
            f"read its hazard ratio as an average over the follow-up. Concordance "
            f"{drivers.concordance:.2f}.")


# (b) survival by exposure ----------------------------------------------------------------------

def _survival_section(doc: ReportDocument, drivers: DriverResult) -> None:
    section = doc.section("Survival with and without each experience", "survival")
    curves = drivers.survival_by_exposure
    shown = [n for n in drivers.summary.index if n in set(curves["exposure"])][:SURVIVAL_PANELS]
    if not shown:
        section.add(Paragraph("No exposure has churns on both sides to draw."))
        return
    section.add(Paragraph(
        "Kaplan-Meier curves of the share of customers still with us, by months since "
        "acquisition. A customer's time counts as 'before' until the first such experience and "
        "'after' from then on, so the exposed are not credited with the time before it."))
    titles = {name: _label(name).removesuffix(" (per defect)") for name in shown}
    section.add(Figure(
        charts.to_svg(relationship_charts.exposure_survival_chart(curves, shown, titles)),
        f"The {len(shown)} experiences with the strongest evidence; shaded: 95% bands."))


# (c) unit-level link ---------------------------------------------------------------------------

def _unit_link_section(doc: ReportDocument, answer: Answer) -> None:
    from qualityloop.services.relationship import CONSTRUCT_NAMES

    section = doc.section("TQM, quality, satisfaction and retention across units", "unit-link")
    link = answer.unit_link
    if link is None:
        section.add(Paragraph("The unit-level link could not be estimated: "
                              f"{answer.problems.get('unit_link', 'no result')}."))
        return
    for sentence in link.sentences:
        section.add(Paragraph(sentence))
    names = {key: value[:1].upper() + value[1:] for key, value in CONSTRUCT_NAMES.items()}
    svg = relationship_charts.path_diagram_svg(
        link.paths, link.r2, names, label_at={("Quality", "Retention"): 0.4})
    section.add(Figure(svg, (
        f"PLS path model on {len(link.data)} unit-half-years. Arrows: path coefficients "
        f"(standardised) with {link.bootstrap:,}-resample bootstrap 95% intervals; solid where "
        "the interval excludes 0, dashed grey where it does not. R² in the boxes.")))
    section.add(Table(paths_table(link, names), caption="Paths and effects",
                      formats={"Coefficient": "+.2f", "95% lower": "+.2f", "95% upper": "+.2f"},
                      index=False))
    section.add(Table(construct_table(link, names),
                      caption="Constructs: explained variance and reliability",
                      formats={"R²": ".2f", "Cronbach's alpha": ".2f", "rho_A": ".2f",
                               "rho_C": ".2f", "AVE": ".2f"}, index=False))
    section.add(Paragraph("Indicators: " + "; ".join(
        f"{names.get(c, c)}: " + ", ".join(i.replace("_", " ") for i in indicators)
        for c, indicators in link.measurement.items()) + "."))


def paths_table(link: UnitLinkResult, names: dict[str, str]) -> pd.DataFrame:
    """Direct paths, then the indirect effects and the total effects they add up to (a total
    equal to its direct path is left out), with names as readers see them."""
    direct = link.paths.assign(kind="direct")
    effects = link.effects
    mediated = set(zip(effects.loc[effects["kind"] == "indirect", "from"],
                       effects.loc[effects["kind"] == "indirect", "to"], strict=True))
    keep = [(a, b) in mediated for a, b in zip(effects["from"], effects["to"], strict=True)]
    table = pd.concat([direct, effects[keep]], ignore_index=True)
    return pd.DataFrame({
        "Path": [f"{names.get(a, a)} → {names.get(b, b)}"
                 for a, b in zip(table["from"], table["to"], strict=True)],
        "Effect": table["kind"].to_numpy(),
        "Coefficient": table["coefficient"].to_numpy(),
        "95% lower": table["lower"].to_numpy(),
        "95% upper": table["upper"].to_numpy(),
        "p": [p_text(p) for p in table["p"]],
    })


def construct_table(link: UnitLinkResult, names: dict[str, str]) -> pd.DataFrame:
    """R² and reliability per construct."""
    reliability = link.reliability
    constructs = list(link.measurement)
    return pd.DataFrame({
        "Construct": [names.get(c, c) for c in constructs],
        "Indicators": [len(link.measurement[c]) for c in constructs],
        "R²": [link.r2.get(c, float("nan")) for c in constructs],
        "Cronbach's alpha": [reliability.loc[c, "alpha"] for c in constructs],
        "rho_A": [reliability.loc[c, "rho_a"] for c in constructs],
        "rho_C": [reliability.loc[c, "rho_c"] for c in constructs],
        "AVE": [reliability.loc[c, "ave"] for c in constructs],
    })


# (d) TQM implementation ------------------------------------------------------------------------

def _tqm_section(doc: ReportDocument, unit: OrgUnit | None, as_of: dt.date) -> None:
    section = doc.section("TQM implementation", "tqm")
    _survey_blocks(section, unit)
    _index_blocks(section, unit, as_of)


def _latest_answered_round() -> Any:
    from django.db.models import Count

    from qualityloop.records.assessment.models import SurveyRound

    return (SurveyRound.objects.select_related("instrument").annotate(answered=Count("responses"))
            .filter(answered__gt=0).order_by("-opened_on", "-pk").first())


def survey_maturity(survey: Any, unit: OrgUnit | None) -> pd.DataFrame:
    """Maturity (0-100) per construct in a round: the unit (with the units below it) and the
    whole organisation, as ``series``, ``construct``, ``maturity``, ``n``."""
    from qualityloop.analytics.assessment import aggregate_scores, construct_scores
    from qualityloop.services import assessment

    spec = survey.instrument.spec
    frame = assessment.responses_frame(survey)
    scores = construct_scores(frame, spec)
    names = {c.id: c.name for c in spec.constructs}
    parts = []
    if unit is not None:
        keys = {unit.external_id, *(u.external_id for u in unit.descendants())}
        mine = scores[frame["unit"].isin(keys).to_numpy()]
        if len(mine):
            parts.append(aggregate_scores(mine, by=(), instrument=spec).assign(series=unit.name))
    everyone = aggregate_scores(scores, by=(), instrument=spec)
    parts.append(everyone.assign(series="Organisation (all respondents)"))
    table = pd.concat(parts, ignore_index=True)
    table["construct"] = table["construct"].map(lambda c: names.get(c, c))
    return table[["series", "construct", "maturity", "n"]]


def _survey_blocks(section: Any, unit: OrgUnit | None) -> None:
    survey = _latest_answered_round()
    if survey is None:
        section.add(Paragraph("No TQM survey round has answers yet, so the survey side of TQM "
                              "implementation is not shown."))
        return
    table = survey_maturity(survey, unit)
    title = f"TQM maturity by construct, survey round {survey.external_id}"
    try:
        from qualityloop.report import assessment_charts

        chart = assessment_charts.maturity_radar_chart(table, title)
    except (ImportError, AttributeError):  # the radar module is optional
        chart = relationship_charts.maturity_bar_chart(table.drop_duplicates("construct"), title)
    counts = "; ".join(f"{series}: {int(n):,}" for series, n in
                       table.groupby("series", sort=False)["n"].max().items())
    section.add(Figure(charts.to_svg(chart), (
        f"Mean answers per construct on 0-100, round opened {survey.opened_on:%d %B %Y}; "
        f"respondents ({counts}).")))


def _index_blocks(section: Any, unit: OrgUnit | None, as_of: dt.date) -> None:
    from qualityloop.services import tqm_index

    try:
        index = tqm_index.index_summary(period=INDEX_PERIOD, as_of=as_of, unit=unit)
    except tqm_index.IndexInputError as problem:
        section.add(Paragraph(f"The record-based TQM index could not be computed: {problem}."))
        return
    index = index.dropna(subset=["composite"])
    if index.empty:
        section.add(Paragraph("No unit has enough records for the record-based TQM index yet."))
        return
    periods = sorted(index["period"].unique())
    latest = index[index["period"] == periods[-1]]
    section.add(Figure(
        charts.to_svg(relationship_charts.index_bar_chart(
            latest, f"Record-based TQM index per unit, {periods[-1]}")),
        "The equal-weight mean of the indicator scores (0-100) each unit has from its own "
        "records: objectives, training, CAPA, design reviews, complaint handling, feedback."))
    wide = index[index["period"].isin(periods[-3:])].pivot_table(
        index="unit_name", columns="period", values="composite")
    wide = wide.sort_values(wide.columns[-1], ascending=False)
    wide.index.name = "Unit"
    wide.columns.name = None
    section.add(Table(wide, caption="Record-based TQM index (0-100) per unit and year",
                      formats={str(p): ".0f" for p in wide.columns}))


# (e) retention ---------------------------------------------------------------------------------

def _retention_section(doc: ReportDocument, unit: OrgUnit | None, as_of: dt.date
                       ) -> tuple[dt.date, dt.date] | None:
    """Cohort retention and the headline figures; returns the orders' first and last day."""
    from qualityloop.services.retention import NoOrdersError, RetentionOverview

    section = doc.section("Customer retention", "retention")
    overview = RetentionOverview(unit)
    try:
        head = overview.headline()
        cohorts = overview.cohorts(period="M", kind="first_time")
        log = overview.transactions()
    except NoOrdersError as problem:
        section.add(Paragraph(f"Nothing to show: {problem}."))
        return None
    section.add(Paragraph(retention_sentence(head)))
    section.add(Table(pd.DataFrame({"Figure": [
        "Customers with orders", "Orders", "Revenue", "Bought more than once",
        f"Month-before buyers not buying in {_month(head['churn_period'])}"],
        "Value": [f"{head['customers']:,}", f"{head['orders']:,}", f"{head['revenue']:,.0f}",
                  f"{head['repeat_purchase_rate']:.1%}",
                  "-" if head["churn_rate"] is None else f"{head['churn_rate']:.1%}"]}),
        caption="Retention at a glance", index=False))
    section.add(Figure(
        charts.to_svg(charts.cohort_heatmap_chart(cohorts.rates, cohorts.sizes)),
        "Each row is the customers whose first purchase fell in that month; each cell the share "
        "of them buying n months later."))
    dates = pd.to_datetime(log["date"]) if "date" in log else None
    if dates is None or dates.empty:
        return None
    return dates.min().date(), dates.max().date()


def retention_sentence(head: dict[str, Any]) -> str:
    """The retention headline as a sentence."""
    text = (f"{head['customers']:,} customers placed {head['orders']:,} orders worth "
            f"{head['revenue']:,.0f}; {head['repeat_purchase_rate']:.0%} of them bought more "
            "than once")
    if head["churn_rate"] is not None:
        text += (f"; {head['churn_rate']:.1%} of the customers who bought the month before "
                 f"did not buy in {_month(head['churn_period'])} (a pause, not always a loss)")
    return text + "."


def _month(iso_day: str | None) -> str:
    return "-" if not iso_day else f"{dt.date.fromisoformat(iso_day):%B %Y}"


# (f) ranked actions ----------------------------------------------------------------------------

def _actions_section(doc: ReportDocument, answer: Answer) -> None:
    section = doc.section("What to do first", "actions")
    ranked = answer.priorities
    if ranked.empty:
        section.add(Paragraph("No open nonconformance or complaint puts customer value at risk "
                              "now."))
        return
    section.add(Paragraph(actions_sentence(ranked)))
    section.add(Table(actions_table(ranked.head(ACTIONS_SHOWN)),
                      caption="Open nonconformances and complaints by customer value at risk",
                      formats={"Lifetime value at risk": ",.0f",
                               "Customers expected lost": ".2f"}, index=False))


def actions_table(ranked: pd.DataFrame) -> pd.DataFrame:
    """The priorities as a table: rank, record, customers and what is at risk. The index (not
    printed) holds the records' external ids, so a page can link the rows."""
    columns = {
        "Record": [f"{rank}. {e} · {t}" for rank, e, t in zip(
            range(1, len(ranked) + 1), ranked["external_id"], ranked["title"], strict=True)],
        "Kind": ranked["kind"].to_numpy(),
        "Customers": ranked["customers"].to_numpy(),
        "Lifetime value at risk": ranked["clv_at_risk"].to_numpy(),
        "Customers expected lost": ranked["expected_customers_lost"].to_numpy(),
    }
    return pd.DataFrame(columns, index=pd.Index(ranked["external_id"].to_numpy(),
                                                name="external_id"))


def actions_sentence(ranked: pd.DataFrame) -> str:
    """Which records to close first, and how much of the value at risk they hold."""
    first = ranked.head(FIRST_ACTIONS)
    records = [f"{k} {e}" for k, e in zip(first["kind"], first["external_id"], strict=True)]
    titles = list(dict.fromkeys(first["title"]))
    if len(titles) == 1:
        names = f"{_and(records)} ({titles[0][:1].lower() + titles[0][1:]})"
    else:
        names = _and([f"{r} ({t})" for r, t in zip(records, first["title"], strict=True)])
    share = first["clv_at_risk"].sum() / ranked["clv_at_risk"].sum() if ranked[
        "clv_at_risk"].sum() > 0 else float("nan")
    text = (f"Close {names} first: together they touch {int(first['customers'].sum()):,} "
            f"customers with {first['clv_at_risk'].sum():,.0f} of lifetime value at risk")
    if share == share:
        text += f", {share:.0%} of the {len(ranked)} open records ranked here"
    return text + (". For each: contain the problem, tell the customers affected, then remove "
                   "the cause (corrective action).")


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# notes -----------------------------------------------------------------------------------------

def method_notes(answer: Answer, window: tuple[dt.date, dt.date] | None) -> list[str]:
    """How the answer was computed, with the sizes it rests on."""
    drivers = answer.drivers
    notes = []
    if window is not None:
        notes.append(f"Data: orders from {window[0]:%d %b %Y} to {window[1]:%d %b %Y}; "
                     f"records read up to {answer.as_of:%d %b %Y}.")
    notes.append(
        f"Customer-level drivers: Cox proportional hazards model with time-varying covariates "
        f"(monthly start/stop rows, each exposure as known at the month's start), Efron's "
        f"method for tied churn times, stratified by segment (each segment its own baseline "
        f"churn), robust (sandwich) standard errors clustered by customer; "
        f"{drivers.customers:,} customers, {drivers.events:,} churns, concordance "
        f"{drivers.concordance:.2f}. NPS and CSAT are left out: they signal the same "
        "experiences rather than cause churn.")
    if answer.what_if is not None:
        scenario = answer.what_if
        notes.append(
            f"What-if: each exposure thinned at random (not the coefficient scaled), "
            f"{scenario.horizon_months}-month survival from the Breslow baseline of each of "
            f"the {scenario.customers:,} active customers, {scenario.draws:,} draws of the "
            "coefficients from their robust covariance for the interval; lifetime value from "
            "the BG/NBD and Gamma-Gamma models over the same horizon.")
    link = answer.unit_link
    if link is not None:
        notes.append(
            f"Unit-level link: PLS path model (Mode A, path weighting scheme, missing values "
            f"mean-replaced) on {len(link.data)} unit-half-years from {link.units} units over "
            f"{link.periods} periods; {link.bootstrap:,} bootstrap resamples, percentile "
            "intervals. Rows of one unit are not independent: read it as a pointer.")
    notes.append("Value at risk: for each open record, the customers it reached, their "
                 "lifetime value and the extra churn the drivers' hazard ratio implies over "
                 "the horizon.")
    return notes
