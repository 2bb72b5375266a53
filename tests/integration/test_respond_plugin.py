"""`xmppext respond --plugin` running the tutorial's plugin, asked by `xmppext send --raw`, on the real servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.processes import RunningResponder, client_env, run_xmppext, start_with_lines

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "greeting"
PLUGIN = "bot:GreetingResponder"


def greeting(language: str) -> str:
    return f"<greeting xmlns='urn:example:greeting' language='{language}'/>"


@pytest.fixture
def plugin_responder(xmpp_server, make_account):
    """``xmppext respond --plugin bot:GreetingResponder ARGS`` started in examples/greeting, READY; stopped after."""
    started = []

    def start(*args: str) -> RunningResponder:
        running = start_with_lines(
            ["respond", "--plugin", PLUGIN, *args],
            client_env(xmpp_server, make_account()),
            RunningResponder,
            cwd=EXAMPLE,
        )
        started.append(running)
        ready = running.wait_for_line(lambda line: line.startswith("READY "))
        running.full_jid = ready.split(" ", 1)[1]
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.kill()


def test_the_users_plugin_answers_and_the_responder_counts_its_answers(xmpp_server, make_account, plugin_responder):
    bot = plugin_responder("--count", "2")
    asker = make_account()
    result = run_xmppext(
        xmpp_server, asker, "send", "-t", bot.full_jid, "--raw", "--check-support", "--xml", greeting("fr")
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert ">Bonjour</greeting>" in result.stdout
    result = run_xmppext(xmpp_server, asker, "send", "-t", bot.full_jid, "--raw", "--xml", greeting("tlh"), "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    exchange = json.loads(result.stdout.splitlines()[0])
    assert (exchange["condition"], exchange["from"]) == ("item-not-found", bot.full_jid)
    # Two answers: --count 2 stops it, exit 0, each answer a line.
    assert bot.process.wait(15) == 0
    lines = bot.all_lines()
    assert any("answered result (carrying <greeting xmlns='urn:example:greeting'>)" in line for line in lines)
    assert any("refused with an error (item-not-found: no greeting in 'tlh')" in line for line in lines)
    assert lines[-1] == "stopped after answering 2"


def test_a_sender_outside_allow_is_refused_before_the_plugin_sees_it(xmpp_server, make_account, plugin_responder):
    bot = plugin_responder("--allow", "nobody@localhost")
    result = run_xmppext(xmpp_server, make_account(), "send", "-t", bot.full_jid, "--raw", "--xml", greeting("en"))
    assert result.returncode == 1
    assert "error forbidden" in result.stdout
    bot.wait_for_line(lambda line: "refused with forbidden (not in --allow)" in line)
    assert bot.stop() == 0


CRASHING_PLUGIN = """
import greeting  # noqa: F401
from slixmpp.plugins.base import BasePlugin, register_plugin


def answer(iq):
    raise ValueError("the table of greetings is broken")


class Crashing(BasePlugin):
    name = "crashing_greeter"
    dependencies = {"greeting"}

    def plugin_init(self):
        self.xmpp.add_event_handler("greeting_request", answer)


register_plugin(Crashing)
"""


def test_a_plugin_that_raises_answers_internal_server_error(xmpp_server, make_account, tmp_path):
    (tmp_path / "crashing.py").write_text(CRASHING_PLUGIN)
    env = {**client_env(xmpp_server, make_account()), "PYTHONPATH": str(EXAMPLE)}
    bot = start_with_lines(["respond", "--plugin", "crashing:Crashing"], env, RunningResponder, cwd=tmp_path)
    try:
        full_jid = bot.wait_for_line(lambda line: line.startswith("READY ")).split(" ", 1)[1]
        result = run_xmppext(xmpp_server, make_account(), "send", "-t", full_jid, "--raw", "--xml", greeting("en"))
        assert result.returncode == 1, result.stdout + result.stderr
        assert "error internal-server-error" in result.stdout and "the responder failed to answer" in result.stdout
        assert "greetings is broken" not in result.stdout  # nothing of the exception goes to the asker
        bot.wait_for_line(lambda line: "the plugin failed (ValueError: the table of greetings is broken;" in line)
    finally:
        assert bot.stop() == 0
    assert "\n".join(bot.all_lines()).count("Traceback") == 1
