"""The send job, in its parts: what to send (``steps``), who to (``resolve``), one exchange (``exchanges``),
a burst through the pipeline (``burst``, ``pipeline``) and the run that ties them to a session (``run``)."""

from xmpp_ext.jobs.send.resolve import NotSupported, ResolveError, ensure_supported, resolve_bare_jid
from xmpp_ext.jobs.send.run import RunStop, Sender, SendOptions, SendResult, StopKind, send
from xmpp_ext.jobs.send.steps import (
    STDIN_PATH,
    TUTORIAL_STRING,
    Step,
    check_stanza_sizes,
    custom_tag,
    read_tag_source,
    tutorial_scenario,
)

__all__ = [
    "STDIN_PATH",
    "TUTORIAL_STRING",
    "NotSupported",
    "ResolveError",
    "RunStop",
    "SendOptions",
    "SendResult",
    "Sender",
    "Step",
    "StopKind",
    "check_stanza_sizes",
    "custom_tag",
    "ensure_supported",
    "read_tag_source",
    "resolve_bare_jid",
    "send",
    "tutorial_scenario",
]
