"""``xmppext disco``: browse an entity with service discovery (XEP-0030)."""

from __future__ import annotations

import difflib
import sys

import click

from xmpp_ext.cli.options import (
    JidType,
    Login,
    configure_logging,
    connection_options,
    timeout_option,
    verbosity_options,
)
from xmpp_ext.cli.outcome import run_job
from xmpp_ext.jobs.disco import QUERIES
from xmpp_ext.util.display import printable
from xmpp_ext.util.exitcodes import ExitCode, help_epilog

EPILOG = help_epilog(
    ExitCode.OK,
    ExitCode.FAILED,
    ExitCode.BAD_INPUT,
    ExitCode.CONNECT,
    ExitCode.INTERRUPTED,
    ok="the target answered",
    failed="the target answered with an error (unknown, offline, unreachable) or not at all; with --has, the "
    "target does not announce FEATURE",
    interrupted="interrupted by Ctrl-C",
)


class QueryOrTarget(click.ParamType):
    """The first word: a query word, or already the target. A near miss of a query word is a typo, not a JID."""

    name = "query"

    def convert(self, value, param, ctx):
        if value in QUERIES or any(mark in value for mark in "@./"):
            return value
        near = difflib.get_close_matches(value, QUERIES, n=1, cutoff=0.75)
        if near:
            self.fail(f"unknown query {value!r}; did you mean {near[0]!r}? ({'|'.join(QUERIES)})", param, ctx)
        return value

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        return [CompletionItem(query) for query in QUERIES if query.startswith(incomplete)]


@click.command(epilog=EPILOG)
@connection_options
@verbosity_options
@click.argument("first", type=QueryOrTarget(), required=False, metavar="[info|items|identities|features|all]")
@click.argument("rest", nargs=-1, metavar="TARGET [NODE]")
@timeout_option("Seconds to wait for each answer.")
@click.option("--json", "as_json", is_flag=True, help='One JSON object: {"identities", "features", "items"}.')
@click.option(
    "--has",
    "feature",
    metavar="FEATURE",
    help="Answer through the exit code whether TARGET announces FEATURE (a namespace): 0 yes, 1 no.",
)
def command(
    login: Login,
    verbosity: int,
    first: str | None,
    rest: tuple[str, ...],
    timeout: float,
    as_json: bool,
    feature: str | None,
) -> None:
    """Browse an entity with service discovery (XEP-0030).

    Shows TARGET's identities (category/type name), features (sorted) and
    items (JID node name); `all` (the default) is info, then items. An error
    answer (unknown user, offline, unreachable server) is shown as its stanza
    error condition, exit 1.

    \b
    Examples:
      xmppext disco -j me@example.net example.net
      xmppext disco -j me@example.net features peer@example.net/xmppext
      xmppext disco -j me@example.net items example.net --json
      xmppext disco -j me@example.net peer@example.net/bot --has urn:example:greeting
    """
    from xmpp_ext.jobs.disco import format_listing

    query, words = (first, rest) if first in QUERIES or first is None else ("all", (first, *rest))
    if not words:
        raise click.UsageError("missing TARGET: expected [info|items|identities|features|all] TARGET [NODE]")
    if len(words) > 2:
        raise click.UsageError("expected [info|items|identities|features|all] TARGET [NODE]")
    target = JidType().convert(words[0], None, click.get_current_context())
    node = words[1] if len(words) == 2 else None
    if feature is not None:
        if query not in ("all", "info", "features"):
            raise click.UsageError(f"--has asks for a feature: it goes with info or features, not {query}")
        if not feature.strip():
            raise click.BadParameter("an empty feature", param_hint="--has")
        query = "features"
    settings = login.settings()
    configure_logging(verbosity, settings)
    result = run_job(_discover(settings, target, query, node, timeout))
    if feature is not None:
        announced = feature in (result.features or [])
        if as_json:
            import json

            click.echo(json.dumps({"feature": feature, "announced": announced}))
        else:
            says = "announces" if announced else "does not announce"
            click.echo(f"{target} {says} {printable(feature)}")
        sys.exit(ExitCode.OK if announced else ExitCode.FAILED)
    if as_json:
        import json  # only for --json: every import counts in a one-shot's start-up

        click.echo(json.dumps(result.as_dict()))
    else:
        for line in format_listing(result):
            click.echo(line)


async def _discover(settings, target, query, node, timeout):
    from xmpp_ext.jobs.disco import discover
    from xmpp_ext.session import connected

    async with connected(settings) as client:
        return await discover(client, target, query, node, timeout)
