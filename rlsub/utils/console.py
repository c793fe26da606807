"""What rlsub prints besides results: warnings as one plain line each, once."""

from __future__ import annotations

import re
import sys
import warnings

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SEEN: set[str] = set()


def plain(message: str) -> str:
    """A message without terminal colour codes and Gymnasium's ``WARN:`` prefix."""
    text = _ANSI.sub("", message).strip()
    return text[len("WARN:"):].strip() if text.startswith("WARN:") else text


def _show(message, category, filename, lineno, file=None, line=None) -> None:
    text = plain(str(message))
    if text in _SEEN:
        return
    _SEEN.add(text)
    print(f"rlsub: warning: {text}", file=file or sys.stderr)


def plain_warnings() -> None:
    """Print each distinct warning once, as ``rlsub: warning: ...`` without colour codes."""
    warnings.showwarning = _show


__all__ = ["plain", "plain_warnings"]
