"""mkdocs hooks: the site's home page is the README, so the two never drift apart.

The README links to the pages as ``docs/NAME.md`` (right on GitHub); on the site the home page
sits inside ``docs/``, so those links lose their ``docs/`` prefix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DOCS_LINK = re.compile(r"\]\(docs/")


def on_page_read_source(page: Any, config: Any) -> str | None:
    if page.file.src_uri != "index.md":
        return None
    readme = Path(config.config_file_path).parent / "README.md"
    return DOCS_LINK.sub("](", readme.read_text(encoding="utf-8"))
