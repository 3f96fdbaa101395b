"""JSON parsed from files a user can hand the program (configs, manifests, records, weight headers).

The standard parser raises RecursionError for a text nested deeper than its stack allows, which no reader of a
malformed file expects; here that is a ValueError like any other malformed JSON, so each reader's one-line error
covers it.
"""

from __future__ import annotations

import json
from typing import Any


def loads(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None
