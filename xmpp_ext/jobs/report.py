"""How outcomes are shown: one line (or JSON object) per exchange, then the summary."""

from __future__ import annotations

from collections.abc import Callable

from xmpp_ext.jobs.outcomes import Exchange, Status
from xmpp_ext.util.display import clip, printable

#: Characters of a raw reply a text line shows (--json carries it whole, as kept: jobs/send/raw.py).
MAX_SHOWN_REPLY = 1000


class Reporter:
    """Prints exchanges as they end and the summary at the end: text or JSON lines."""

    def __init__(self, echo: Callable[[str], None], as_json: bool = False, quiet: bool = False) -> None:
        self._echo = echo
        self._json = as_json
        self._quiet = quiet
        if as_json:
            # Here, not at the top: most runs print text, and start-up time counts.
            from xmpp_ext.jobs import jsonlines

            self._lines = jsonlines

    def exchange(self, exchange: Exchange) -> None:
        if self._quiet and exchange.status in (Status.OK, Status.SENT):
            return
        if self._json:
            self._echo(self._lines.exchange_line(exchange))
        else:
            latency = "" if exchange.latency is None else f"  {exchange.latency * 1000:.1f} ms"
            self._echo(f"{exchange.name:<24} {exchange.status:<6} {printable(exchange.detail)}{latency}")
            if exchange.reply is not None:
                self._echo(f"  {clip(printable(exchange.reply), MAX_SHOWN_REPLY)}")

    def event(self, event: dict[str, object]) -> None:
        """A reconnection during the run (never hidden by quiet: it explains the numbers)."""
        if self._json:
            self._echo(self._lines.event_line(event))
            return
        kind = event.get("event")
        if kind == "cut":
            self._echo(f"connection lost ({printable(event['cause'])}); reconnecting")
        elif kind == "resumed":
            self._echo(f"resumed after {event['after_s']:.1f} s, {event['resent']} re-sent")
        elif kind == "resumption_refused":
            self._echo(
                f"not resumed ({printable(event['cause'])}): {event['retried']} in flight sent again under new ids"
            )
        elif kind == "new_session":
            self._echo(f"new session after {event['after_s']:.1f} s, {event['resent']} re-sent")

    def summary(self, summary: dict[str, object]) -> None:
        if self._json:
            self._echo(self._lines.summary_line(summary))
            return
        if summary["sent"] and summary.get("no_reply") == summary["sent"]:
            messages = "1 message" if summary["sent"] == 1 else f"{summary['sent']} messages"
            self._echo(f"sent {messages}, no reply awaited")
            return
        latency = ""
        if summary["p50_ms"] is not None:
            latency = f", p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms"
        unsent = f", {summary['unsent']} unsent" if summary.get("unsent") else ""
        for key in ("duplicates", "late"):
            if summary.get(key):
                unsent += f", {summary[key]} {key}"
        self._echo(
            f"sent {summary['sent']}: {summary['ok']} ok, {summary['failed']} failed, {summary['lost']} lost{unsent}"
            f" ({summary['per_second']}/s{latency})"
        )
        if summary.get("reconnections"):
            refused = summary.get("resumption_refused")
            self._echo(
                f"{summary['reconnections']} reconnection(s): {summary['resumed']} resumed, "
                f"{summary.get('new_sessions', 0)} new session(s), {summary['resent']} re-sent, "
                f"{summary.get('retried', 0)} sent again" + (f"; not resumed ({refused})" if refused else "")
            )
