"""The respond job: the answers (``responder``), its records (``records``) and their lines (``lines``), and the
run that keeps a session answering (``run``)."""

from xmpp_ext.jobs.respond.lines import RespondLines, summarize_received
from xmpp_ext.jobs.respond.records import Answered, Outcome, Record
from xmpp_ext.jobs.respond.responder import (
    DEFAULT_RESOURCE,
    RESPONDER_PLUGINS,
    Answer,
    Responder,
    RespondOptions,
)
from xmpp_ext.jobs.respond.run import respond

__all__ = [
    "DEFAULT_RESOURCE",
    "RESPONDER_PLUGINS",
    "Answer",
    "Answered",
    "Outcome",
    "Record",
    "RespondLines",
    "RespondOptions",
    "Responder",
    "respond",
    "summarize_received",
]
