"""``--local``: each script on throwaway servers, one server kind at a time, fresh accounts per script."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping

from xmpp_ext.scenario.accounts import AccountError, fresh_accounts, responder_account
from xmpp_ext.scenario.program import ResponderCommand
from xmpp_ext.scenario.responder import ResponderLogin, run_script_with_responder
from xmpp_ext.scenario.runner import Endpoint, ScriptResult, StepResult, StepStatus, run_script
from xmpp_ext.scenario.script import Script
from xmpp_ext.servers import LocalServer, ServerFailed, ServerNotInstalled, start_server
from xmpp_ext.session import ConnectError
from xmpp_ext.util.stopsignals import run_until_stopped


class LocalRunFailed(Exception):
    """A local server could not be started: no script can run on it."""


def run_on_server(
    script: Script,
    server: LocalServer,
    timeout: float,
    environ: Mapping[str, str] | None = None,
    responder: ResponderCommand | None = None,
    deadline: float | None = None,
) -> ScriptResult:
    """``script`` on ``server`` with its accounts made before and removed after (the responder's too).

    Each client logs in where the server says its account lives: in a cluster, accounts are spread over the
    nodes, so the script's clients talk across it.
    """
    try:
        with fresh_accounts(script, server) as accounts:
            homes = {account.jid: server.settings_for(account).port for account in accounts}
            # In a cluster, each login waits until every node knows it; one server routes to it at once.
            # The server's failure to learn of a session is the script's ConnectError (see runner.Endpoint).
            routable = (
                server.routable_wait(lambda message: ConnectError(message, "other")) if len(server.ports) > 1 else None
            )
            endpoint = Endpoint(server.host, server.port, server.ca_cert, ports=homes, until_routable=routable)
            if responder is None:
                return run_until_stopped(run_script(script, endpoint, server.kind, timeout, environ, deadline))
            with responder_account(server) as account:
                login = ResponderLogin(server.settings_for(account), server.environment_for(account))
                run = run_script_with_responder(
                    script, endpoint, server.kind, timeout, environ or os.environ, responder, login, deadline
                )
                return run_until_stopped(run)
    except AccountError as exc:
        first = min(spec.line for spec in script.clients.values())
        return ScriptResult(
            script, server.kind, [StepResult(first, "create accounts", StepStatus.ERROR, message=str(exc))]
        )


def run_on_local_servers(
    scripts: list[Script],
    kinds: list[str],
    timeout: float,
    announce: Callable[[str], None] | None = None,
    environ: Mapping[str, str] | None = None,
    responder: ResponderCommand | None = None,
    deadline: float | None = None,
    nodes: int = 1,
) -> Iterator[ScriptResult]:
    """Every script on a fresh server of each kind, one server running at a time (they share the machine).

    Past ``deadline`` (time.monotonic()) nothing more is started. ``nodes`` > 1: an ejabberd cluster.
    """
    for kind in kinds:
        if deadline is not None and time.monotonic() >= deadline:
            return
        try:
            server = start_server(kind, accounts=(), nodes=nodes)
        except (ServerNotInstalled, ServerFailed) as exc:
            raise LocalRunFailed(f"cannot start a local {kind}: {str(exc).splitlines()[0]}") from None
        try:
            if announce is not None:
                ports = ",".join(map(str, server.ports))
                cluster = f" ({nodes} nodes, clients spread over them)" if nodes > 1 else ""
                announce(f"local {kind} on {server.host}:{ports}{cluster}, TLS verified with a fresh CA")
            for script in scripts:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                yield run_on_server(script, server, timeout, environ, responder, deadline)
        finally:
            server.stop()
