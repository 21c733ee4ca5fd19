"""The exceptions and warnings of the analytics library."""

from __future__ import annotations


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``."""


class ConvergenceError(RuntimeError):
    """The optimiser found no estimate. The message says what was tried and what to try next."""


class ConvergenceWarning(UserWarning):
    """An estimate exists but is doubtful (iteration limit reached, flat likelihood, ...)."""


def check_is_fitted(model: object, attribute: str) -> None:
    """Raise :class:`NotFittedError` unless ``model`` has the learned ``attribute``."""
    if getattr(model, attribute, None) is None:
        name = type(model).__name__
        raise NotFittedError(f"this {name} is not fitted yet; call {name}(...).fit(data) first")
