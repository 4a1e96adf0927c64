"""A table of bad calls as one parametrized test: each case's call raises ``error`` with a
message matching the case's pattern (imported by the error tests of each area)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

Case = tuple[Callable[[], object], str]


def raises_test(cases: dict[str, Case], error: type[Exception]) -> Callable[[str], None]:
    """A test, parametrized over ``cases`` by name; bind it to a ``test_…`` name in the
    module (``test_bad_value_raises = raises_test(VALUE_CASES, ValueError)``)."""

    @pytest.mark.parametrize("case", list(cases))
    def test(case: str) -> None:
        build, message = cases[case]
        with pytest.raises(error, match=message):
            build()

    return test
