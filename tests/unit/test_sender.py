"""The send job used as a library (no server: a closed local port)."""

from __future__ import annotations

import asyncio
import threading

from xmpp_ext.client import ConnectError, ConnectionSettings
from xmpp_ext.localserver import free_port
from xmpp_ext.secret import Secret
from xmpp_ext.sender import SendOptions, send, tutorial_scenario


def test_send_runs_outside_the_main_thread():
    # Signal handlers can only be installed from the main thread; elsewhere the job must still run.
    outcome: list[BaseException] = []

    def work() -> None:
        settings = ConnectionSettings(
            jid="me@localhost", password=Secret("not-used"), host="127.0.0.1", port=free_port(), connect_timeout=5
        )
        try:
            asyncio.run(send(settings, SendOptions(to="peer@localhost/r"), tutorial_scenario(), lambda _e: None))
        except BaseException as exc:  # whatever ended the job, inspected below
            outcome.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(30)
    assert not worker.is_alive()
    (error,) = outcome
    assert isinstance(error, ConnectError), repr(error)
    assert "connection failed" in str(error)
