"""``xmppext load --sasl``: a load session authenticates with the mechanism it is told, on the wire, on both
servers; the command runs with it."""

from __future__ import annotations

import re

import pytest

from tests.integration.helpers import run, settings_for
from tests.integration.test_load import run_load
from xmpp_ext.load import sessions

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-1", None])
def test_a_load_session_authenticates_with_the_mechanism_it_is_told(xmpp_server, make_account, mechanism):
    account = make_account()

    async def scenario() -> list[str]:
        session = sessions.new_session(settings_for(xmpp_server, account, "load"), False, print, sasl=mechanism)
        written: list[bytes] = []
        send_raw = session.client.send_raw

        def recording(data: str | bytes) -> None:
            written.append(data.encode() if isinstance(data, str) else data)
            send_raw(data)

        session.client.send_raw = recording
        try:
            await sessions.log_in(session)
        finally:
            await sessions.log_out_all([session])
        return re.findall(rb"<auth [^>]*mechanism=.([A-Z0-9-]+)", b"".join(written))

    # Without --sasl: the strongest both offer, SCRAM on both servers (never PLAIN).
    expected = [mechanism.encode()] if mechanism else None
    sent = run(scenario)
    if expected:
        assert sent == expected
    else:
        assert len(sent) == 1 and sent[0].startswith(b"SCRAM-SHA-")


def test_the_load_command_logs_in_with_plain(xmpp_server):
    result = run_load(
        "--local",
        "--server",
        xmpp_server.kind,
        "--pairs",
        "5",
        "--kind",
        "ping",
        "--exchanges",
        "20",
        "--sasl",
        "PLAIN",
    )
    assert result.returncode == 0, result.stderr
    assert "sessions 10/10 logged in; exchanges: 20 ok, 0 failed, 0 lost" in result.stdout
