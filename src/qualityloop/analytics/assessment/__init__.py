"""TQM assessment: survey instruments as data, construct scores, and the reliability and
validity statistics of a measurement model (Cronbach's alpha, rho_A, composite reliability,
AVE, HTMT, Fornell-Larcker)."""

from qualityloop.analytics.assessment.instrument import (
    Construct,
    Instrument,
    InstrumentError,
    Item,
    Problem,
    builtin_instrument,
    builtin_names,
    load_instrument,
)
from qualityloop.analytics.assessment.scoring import (
    AnswerProblem,
    MissingReport,
    ResponseError,
    aggregate_scores,
    construct_scores,
    missing_report,
    reverse_keyed,
    validate_responses,
)

__all__ = [
    "AnswerProblem",
    "Construct",
    "Instrument",
    "InstrumentError",
    "Item",
    "MissingReport",
    "Problem",
    "ResponseError",
    "aggregate_scores",
    "builtin_instrument",
    "builtin_names",
    "construct_scores",
    "load_instrument",
    "missing_report",
    "reverse_keyed",
    "validate_responses",
]
