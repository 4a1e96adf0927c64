"""docs/estimators.md runs as written and names every spec of the vocabulary."""

import re
from pathlib import Path

from reparam.estimators import LAYER_ESTIMATORS, SPECS

PAGE = Path(__file__).parents[2] / "docs" / "estimators.md"


def test_the_page_examples_run_in_order() -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), namespace)
    assert namespace["resumed"].estimator.baseline.steps == 5


def test_the_page_names_every_spec() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for name in {s.name for s in SPECS} | set(LAYER_ESTIMATORS):
        assert f"`{name}`" in text, name
