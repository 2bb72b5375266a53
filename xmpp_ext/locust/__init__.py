"""Locust user classes for XMPP: ``from xmpp_ext.locust import XmppPairUser`` in a locustfile (the ``locust`` extra).

Only a locustfile imports this package: ``import locust`` monkey-patches the
whole process with gevent, so no other part of xmpp_ext (the command, the
pytest plugin, the load engine) ever imports it. Importing it:

* adds the ``--xmpp-*`` options to Locust's command line (config.py);
* makes Locust's statistics keep sub-millisecond response times (timing.py);
* prints the percentiles in microseconds when the run ends, on the master
  (or the single process): Locust's own tables round them to milliseconds;
* on a master, makes a worker that stopped reporting mid-run fail the run
  (workers.py); each worker prints what it reported, for checking the totals.

A minimal locustfile::

    from xmpp_ext.locust import XmppPairUser

    class Pair(XmppPairUser):
        pass
"""

from __future__ import annotations

import sys

try:
    import locust  # first: gevent's patching precedes every other import
except ImportError:
    raise ImportError("xmpp_ext.locust needs Locust: pip install 'xmppext[locust]'") from None
from locust import events

from xmpp_ext.locust import config, timing
from xmpp_ext.locust.user import ExchangeFailed, LoginFailed, XmppPairUser

__all__ = ["ExchangeFailed", "LoginFailed", "XmppPairUser"]

assert locust  # imported for its side effect above

timing.use_fine_buckets()


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs) -> None:
    config.add_options(parser)


_missing_workers = None


@events.init.add_listener
def _watch_workers(environment, **_kwargs) -> None:
    global _missing_workers
    if type(environment.runner).__name__ == "MasterRunner":
        from xmpp_ext.locust.workers import MissingWorkers

        _missing_workers = MissingWorkers(environment.runner)


@events.test_start.add_listener
def _check_configuration(environment, **_kwargs) -> None:
    """A missing or bad setting ends the run with one line and exit code 2, before any user starts."""
    if environment.parsed_options is None:
        return
    try:
        config.read(environment.parsed_options)
    except config.ConfigError as exc:
        _refuse(environment, str(exc))


def _refuse(environment, message: str) -> None:
    import logging

    import gevent

    logging.getLogger("xmpp_ext.locust").error("xmppext: %s", message)
    environment.process_exit_code = 2
    if environment.runner is not None:
        gevent.spawn(environment.runner.quit)


@events.quitting.add_listener
def _summary(environment, **_kwargs) -> None:
    """The percentiles at microsecond resolution, where the totals are (not on a worker); the loop stopped."""
    from xmpp_ext.locust.bridge import close_process_bridge

    close_process_bridge()
    if environment.runner is None:
        return
    if type(environment.runner).__name__ == "WorkerRunner":
        number = environment.runner.worker_index
        print(f"xmppext: worker {number} reported {_own_counts()}", file=sys.stderr, flush=True)
        return
    if _missing_workers is not None:
        _missing_workers.report(environment)
    for line in timing.summary_lines(environment.runner.stats):
        print(f"xmppext: {line}", file=sys.stderr, flush=True)


def _own_counts() -> str:
    """What this process reported to Locust, as JSON: {name: {"ok": n, "failed": m}}."""
    import json

    from xmpp_ext.locust.user import reported

    counts: dict[str, dict[str, int]] = {}
    for (name, ok), count in sorted(reported.items()):
        counts.setdefault(name, {"ok": 0, "failed": 0})["ok" if ok else "failed"] += count
    return json.dumps(counts, sort_keys=True)
