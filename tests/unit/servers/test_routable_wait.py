"""A server's wait for a session to be routable, as a job calls it: the job's own error on failure."""

from __future__ import annotations

import pytest

from xmpp_ext.servers import ServerFailed
from xmpp_ext.servers.external import ExternalServer


class NodesThatNeverLearn(ExternalServer):
    def wait_until_routable(self, full_jid: str, timeout: float = 0.0) -> None:
        raise ServerFailed(f"node 2 never learned of {full_jid}")


class JobFailed(Exception):
    pass


def test_the_servers_failure_is_raised_as_the_jobs_error_with_its_line():
    wait = NodesThatNeverLearn("example.net").routable_wait(JobFailed)
    with pytest.raises(JobFailed) as raised:
        wait("romeo@example.net/a")
    assert str(raised.value) == "node 2 never learned of romeo@example.net/a"
    assert raised.value.__suppress_context__  # one line for the user, not the server's traceback too


def test_a_session_routable_at_once_returns():
    assert ExternalServer("example.net").routable_wait(JobFailed)("romeo@example.net/a") is None
