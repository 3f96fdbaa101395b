"""JSON parsed from files a user can hand the program (configs, manifests, records, weight headers).

The standard parser raises RecursionError for a text nested deeper than its stack allows, which no reader of a
malformed file expects; here that is a ValueError like any other malformed JSON, so each reader's one-line error
covers it.
"""

from __future__ import annotations

import json
import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def loads(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` with non-ASCII text kept readable (σ, a photo's accented name), but a lone surrogate (a
    file name that is not UTF-8, as Python reads it) written as its ``\\u`` escape, so the file stays valid
    UTF-8 JSON (and a valid YAML double-quoted scalar)."""
    return escaped_surrogates(json.dumps(value, ensure_ascii=False, **kwargs))


def escaped_surrogates(text: str) -> str:
    """``text`` with each lone surrogate (a byte of a file name that is not UTF-8, as Python reads it) written as
    its ``\\u`` escape: text that must be valid UTF-8 (JSON, YAML, ONNX metadata) cannot hold the byte itself."""
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
