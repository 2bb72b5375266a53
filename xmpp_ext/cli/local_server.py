"""``xmppext local-server``: a throwaway XMPP server on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from xmpp_ext.cli.options import check_nodes, env_file_option, nodes_option, server_option
from xmpp_ext.util import envvars
from xmpp_ext.util.exitcodes import ExitCode, help_epilog

#: Load accounts are load1, load2, ...: the pattern `xmppext load --accounts` and the Locust user class number.
LOAD_PREFIX = "load"
MAX_LOAD_ACCOUNTS = 100_000

EPILOG = help_epilog(
    ExitCode.OK,
    ExitCode.BAD_INPUT,
    ExitCode.CONNECT,
    ExitCode.INTERRUPTED,
    ok="stopped by Ctrl-C or SIGTERM; the server and its files are gone",
    bad_input="bad usage, or an --env-file it may not replace",
    connect="the server is not installed or did not start",
    interrupted="interrupted while the server was starting (it is stopped again)",
)


@click.command(epilog=EPILOG)
@env_file_option("Where to write the credentials for the server's two accounts (mode 600).")
@server_option()
@nodes_option(
    "Run ejabberd as a cluster of N nodes on 127.0.0.1 (each its own client port, printed); "
    "the sender logs in to node 1, the responder to node 2, so their stanzas cross the cluster."
)
@click.option(
    "--load-accounts",
    type=click.IntRange(0, MAX_LOAD_ACCOUNTS),
    default=0,
    metavar="N",
    help=f"Also make accounts load1 ... loadN, all with the password in {envvars.PASSWORD}, for `xmppext load "
    "--accounts 'load{n}@DOMAIN'` and the Locust user class.",
)
def command(env_file: Path, server_kind: str, nodes: int, load_accounts: int) -> None:
    """Run a throwaway XMPP server on 127.0.0.1 until Ctrl-C.

    It has a fresh certificate authority and two accounts with random
    passwords, written to ENV_FILE for `xmppext run-pair`. Stopping it removes
    the server, its data and the certificate; the .env then points nowhere.

    With --server ejabberd --nodes N it is a cluster: N ejabberd nodes joined
    over Erlang distribution (on 127.0.0.1, with a private epmd), one domain,
    one CA. The .env's port is node 1's; the responder's node is printed with
    the --port that reaches it.

    With --load-accounts N it also has N accounts for load runs (made in bulk),
    their password taken from XMPPEXT_PASSWORD.
    """
    from xmpp_ext.cli.local import check_env_file, env_file_argument, how_to_call_xmppext, start_pair_server
    from xmpp_ext.jobs.respond import DEFAULT_RESOURCE
    from xmpp_ext.util.envfile import EnvFileError, write_env_file

    check_nodes(nodes, server_kind)
    check_env_file(env_file)
    load_password = _load_password() if load_accounts else None
    server, credentials = start_pair_server(server_kind, nodes)
    try:
        if load_password is not None:
            server.add_accounts([f"{LOAD_PREFIX}{n}" for n in range(1, load_accounts + 1)], load_password)
        try:
            write_env_file(env_file, credentials)
        except EnvFileError as exc:
            raise click.UsageError(str(exc)) from None
        responder_port = ""
        if nodes > 1:
            _describe_cluster(server)
            responder = server.accounts[1]
            if server.home_of(responder).port != server.port:
                responder_port = f" --port {server.home_of(responder).port}"
        else:
            click.echo(f"{server_kind} listening on {server.host}:{server.port} for domain {server.domain}")
            click.echo(f"direct TLS (XEP-0368, --direct-tls) on port {server.direct_tls_port}")
        click.echo(f"accounts: {credentials.sender_jid} (sender), {credentials.responder_jid} (responder)")
        if load_accounts:
            click.echo(
                f"load accounts: {LOAD_PREFIX}1@{server.domain} ... {LOAD_PREFIX}{load_accounts}@{server.domain} "
                f"(--accounts '{LOAD_PREFIX}{{n}}@{server.domain}'), password from {envvars.PASSWORD}"
            )
        click.echo(f"CA certificate: {server.ca_cert}")
        click.echo(f"credentials written to {env_file}; in two other terminals:")
        file_option = env_file_argument(env_file)
        program = how_to_call_xmppext()
        click.echo(f"  {program} respond --as responder{file_option}{responder_port}")
        click.echo(f"  {program} send --as sender{file_option} -t {credentials.responder_jid}/{DEFAULT_RESOURCE}")
        click.echo("press Ctrl-C to stop")
        _wait_for_stop_signal()
    finally:
        server.stop()
        click.echo("server stopped", err=True)


def _load_password():
    """The load accounts' password, from the environment (never an option: it would show in ``ps``)."""
    import os

    from xmpp_ext.util.secret import Secret

    password = os.environ.get(envvars.PASSWORD)
    if not password:
        raise click.UsageError(f"--load-accounts: set {envvars.PASSWORD} to the password the load accounts get")
    return Secret(password)


def _describe_cluster(cluster) -> None:
    """One line per node (its client port, who logs in there), and the cluster's port mapper."""
    homes: dict[int, list[str]] = {}
    for role, account in zip(("sender", "responder"), cluster.accounts, strict=False):
        homes.setdefault(cluster.home_of(account).port, []).append(role)
    click.echo(f"ejabberd cluster of {len(cluster.nodes)} nodes for domain {cluster.domain}:")
    for number, node in enumerate(cluster.nodes, start=1):
        who = f" ({', '.join(homes[node.port])})" if node.port in homes else ""
        click.echo(
            f"  node {number} {node.node}: client port {node.host}:{node.port}{who}, "
            f"direct TLS {node.direct_tls_port}, distribution {node.dist_port}"
        )
    click.echo(f"  port mapper (epmd) on {cluster.epmd.host}:{cluster.epmd.port}")


def _wait_for_stop_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        signal.sigwait(stop_signals)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
