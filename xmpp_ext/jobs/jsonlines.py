"""The send job's JSON lines, written and read in one place.

``send --json`` writes one object per line: an exchange (``{"name": ...}``),
a reconnection (``{"event": ...}``) and, last, ``{"summary": {...}}``.
run-pair reads its sender's lines back with ``read_line``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from xmpp_ext.jobs.outcomes import Exchange, Status


@dataclass(frozen=True)
class Summary:
    values: dict[str, object]


def exchange_line(exchange: Exchange) -> str:
    return json.dumps(exchange.as_dict())


def event_line(event: dict[str, object]) -> str:
    return json.dumps(event)


def summary_line(summary: dict[str, object]) -> str:
    return json.dumps({"summary": summary})


def error_line(message: str, exit_code: int) -> str:
    """A run that ended before any exchange (no session, no such peer, the feature not announced)."""
    return json.dumps({"error": {"message": message, "exit": exit_code}})


def read_line(line: str) -> Exchange | Summary | None:
    """An exchange or the summary a ``send --json`` line carries; None for any other line."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("summary"), dict):
        return Summary(data["summary"])
    try:
        latency = data["latency_ms"]
        reply = data.get("reply")  # send --raw: the reply stanza (printed through the report's safe rules)
        return Exchange(
            data["name"],
            Status(data["status"]),
            data["detail"],
            None if latency is None else latency / 1000,
            reply=reply if isinstance(reply, str) else None,
        )
    except (KeyError, TypeError, ValueError):
        return None
