"""The examples in the Cox model's docstrings run and give what they show."""

from __future__ import annotations

import doctest

from qualityloop.analytics.survival import cox


def test_docstring_examples() -> None:
    result = doctest.testmod(cox, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
