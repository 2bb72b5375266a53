"""On a Locust master: a worker that stops reporting mid-run makes the run fail, named in one line; so does a
run in which no worker made a single request.

Locust marks a worker ``missing`` when its heartbeats stop (it logs that at
INFO level), keeps the totals it had reported until then, and goes on
with the others; the run still exits 0. What the worker did after its last
report is lost from the totals, so here that is an error: the master
remembers every worker it saw missing (Locust forgets them after a while)
and, at the end, names each and exits 1.
"""

from __future__ import annotations

import sys

import gevent

from xmpp_ext.locust.user import LOGIN  # the name of its login requests: every other name is an exchange

#: Seconds between looks at the workers' states (Locust's heartbeat interval is 1 s).
LOOK_EVERY = 1.0
EXIT_WORKER_MISSING = 1
EXIT_NOTHING_MEASURED = 1


class MissingWorkers:
    def __init__(self, runner) -> None:
        self._runner = runner
        self.seen: dict[str, int] = {}  # worker id -> its index
        self.exchanging: set[str] = set()  # workers whose reports have carried exchanges
        runner.environment.events.worker_report.add_listener(self._on_report)
        self._greenlet = gevent.spawn(self._watch)

    def _on_report(self, client_id: str, data: dict, **_kwargs) -> None:
        """One line the first time a worker's report carries exchanges: from then on the totals hold some of
        its work (a worker lost before that line left nothing in them)."""
        if client_id in self.exchanging:
            return
        if any(entry.get("name") != LOGIN and entry.get("num_requests") for entry in data.get("stats", ())):
            self.exchanging.add(client_id)
            index = self._runner.get_worker_index(client_id)
            print(f"xmppext: worker {index} ({client_id}) reported its first exchanges", file=sys.stderr, flush=True)

    def _watch(self) -> None:
        while True:
            self.look()
            gevent.sleep(LOOK_EVERY)

    def look(self) -> None:
        for worker in self._runner.clients.missing:
            if worker.id not in self.seen:
                self.seen[worker.id] = self._runner.get_worker_index(worker.id)

    def report(self, environment) -> None:
        """At the end: one line per missing worker, and exit code 1 (unless a worse one is set)."""
        self._greenlet.kill(block=False)
        self.look()
        for worker_id, index in sorted(self.seen.items(), key=lambda item: item[1]):
            print(
                f"xmppext: worker {index} ({worker_id}) stopped reporting mid-run: what it did after its last "
                "report is missing from the totals",
                file=sys.stderr,
                flush=True,
            )
        if self.seen and not environment.process_exit_code:
            environment.process_exit_code = EXIT_WORKER_MISSING
        if environment.stats.total.num_requests == 0:
            # Every worker quit before its first request (a worker's bad configuration is its own exit 2, which
            # the master never sees): a run that measured nothing has not passed.
            print(
                "xmppext: no login and no exchange reached the master: every worker quit or failed before its "
                "first request (see the workers' output)",
                file=sys.stderr,
                flush=True,
            )
            if not environment.process_exit_code:
                environment.process_exit_code = EXIT_NOTHING_MEASURED
