"""``xmppext scenario``: run Scansion scripts against real servers and say what differs.

The Click command lives here as ``command``; the root group registers it.
Parsing and presentation only: scripts are read by script.py, run by
runner.py, printed by output.py and junit.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from xmpp_ext.cli.options import (
    ROLES,
    Seconds,
    all_of,
    check_nodes,
    env_file_option,
    load_env_file,
    nodes_option,
    server_address_options,
)
from xmpp_ext.util import envvars
from xmpp_ext.util.display import printable
from xmpp_ext.util.exitcodes import ExitCode, help_epilog
from xmpp_ext.util.files import ReplacingFile, replaceable_problem
from xmpp_ext.util.serverkinds import LOCAL_SERVER_KINDS
from xmpp_ext.util.stopsignals import forget_interrupted_frames, run_until_stopped, sigterm_as_ctrl_c

if TYPE_CHECKING:
    from xmpp_ext.scenario.program import ResponderCommand
    from xmpp_ext.scenario.script import Script
    from xmpp_ext.util.envfile import PairCredentials

SERVER_CHOICES = (*LOCAL_SERVER_KINDS, "all")
DEFAULT_MAX_RUN_TIME = 1800.0  # half an hour: far more than any sane script set, far less than a forgotten CI job
MAX_RUN_TIME = 24 * 3600.0
LOCAL_DOMAIN = "localhost"


def _tags(values: tuple[str, ...]) -> set[str]:
    return {tag.strip() for value in values for tag in value.split(",") if tag.strip()}


@click.command(
    "scenario",
    epilog=help_epilog(
        ExitCode.OK,
        ExitCode.FAILED,
        ExitCode.BAD_INPUT,
        ExitCode.CONNECT,
        ExitCode.INTERRUPTED,
        ok="every script passed",
        failed="a script failed (a step did not get what it expected), the run reached --max-run-time, or the "
        "--junit report was not written",
        bad_input="bad usage, a script that does not parse (file:line says where) or a --junit FILE that cannot "
        "be written; nothing was run",
        connect="a client could not connect or log in, or a local server did not start",
        interrupted="interrupted by Ctrl-C or SIGTERM (local servers are stopped)",
    ),
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--local", is_flag=True, help="Start throwaway server(s) and create each script's accounts on them.")
@click.option(
    "--server",
    "kind",
    type=click.Choice(SERVER_CHOICES),
    default="prosody",
    show_default=True,
    help="Which local server --local starts; 'all' runs every script on each and shows where they differ.",
)
@nodes_option(
    "With --local --server ejabberd: a cluster of N nodes on 127.0.0.1, the script's clients spread over them "
    "(one after another, in the order the script names them), so its stanzas cross the cluster."
)
@click.option("--only-tags", multiple=True, metavar="T[,T]", help="Run only scripts with one of these ## tags.")
@click.option("--skip-tags", multiple=True, metavar="T[,T]", help="Skip scripts with one of these ## tags.")
@click.option(
    "--timeout",
    type=Seconds(600),
    default=5.0,
    show_default=True,
    help="Longest wait of a receives: step, in seconds.",
)
@click.option(
    "--max-run-time",
    type=Seconds(MAX_RUN_TIME),
    default=DEFAULT_MAX_RUN_TIME,
    show_default=True,
    help="Longest the whole run may take, in seconds (local servers' start included): the step under way "
    "then fails and nothing more is run.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per step, script and difference, then a summary."
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write JUnit XML here (a regular file, replaced whole at the end): one test case per script and server.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="PATTERN",
    help="Leave out what matches below a DIR argument: a name (live), a path or a glob ('*_slow.scs'). Repeatable.",
)
@click.option(
    "--responder",
    "responder_command",
    metavar="CMD",
    help="Start CMD (split like a shell line; no shell) beside each script run, logged in through the XMPPEXT_* "
    f"variables with an account of its own; scripts address it as ${{env:{envvars.SCENARIO_RESPONDER}}}.",
)
@click.option(
    "--responder-timeout",
    type=Seconds(300),
    default=30.0,
    show_default=True,
    help="Seconds --responder's program may take to come online (its available presence, or a READY line).",
)
@all_of(server_address_options("Connect every client here instead of the script's server."))
@click.option(
    "--as",
    "role",
    type=click.Choice(ROLES),
    help=f"Run against the server of the .env file (xmppext local-server writes one), its ROLE account given to "
    f"scripts as ${{env:{envvars.SCENARIO_JID}}} and ${{env:{envvars.SCENARIO_PASSWORD}}}, the other one to "
    "--responder; --host/--port/--ca-cert still win.",
)
@env_file_option("The .env file --as reads.")
def command(
    paths: tuple[Path, ...],
    local: bool,
    kind: str,
    nodes: int,
    only_tags: tuple[str, ...],
    skip_tags: tuple[str, ...],
    timeout: float,
    max_run_time: float,
    as_json: bool,
    junit: Path | None,
    exclude: tuple[str, ...],
    responder_command: str | None,
    responder_timeout: float,
    host: str | None,
    port: int | None,
    ca_cert: Path | None,
    role: str | None,
    env_file: Path,
) -> None:
    """Run Scansion scripts (FILE.scs, or every *.scs below DIR) and check each stanza received.

    \b
    Without --local the clients log in where the scripts say (connect_host,
    connect_port, or the JID's domain), TLS verified; --host/--port/--ca-cert
    (or --as with a .env file) send every client to one server instead. The
    accounts must exist there.
    """
    context = click.get_current_context()
    if not local and context.get_parameter_source("kind") is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--server chooses the server --local starts; use it with --local")
    if not local and _typed(context, "nodes"):
        raise click.UsageError("--nodes chooses the local cluster --local starts; use it with --local")
    check_nodes(nodes, kind)
    typed = {name for name in ("host", "port", "ca_cert", "role") if _typed(context, name)}
    if local and typed:
        raise click.UsageError("--host, --port, --ca-cert and --as name a server of your own; --local starts one")
    if local:  # XMPPEXT_HOST and the like (a sourced .env) name a server --local does not use
        host = port = ca_cert = None
    if responder_command is not None and not (local or role):
        raise click.UsageError(
            "--responder needs an account for the program: --local makes a fresh one per script, "
            "--as ROLE gives it the .env file's other account"
        )
    responder = _responder(responder_command, responder_timeout)
    credentials = load_env_file(env_file) if role else None
    if credentials is not None:  # typed options win over the file, the file over the environment
        host = host if "host" in typed else credentials.host or host
        port = port if "port" in typed else credentials.port or port
        ca_cert = ca_cert if "ca_cert" in typed else credentials.ca_cert or ca_cert
    environ = _script_environment(credentials, role)
    # Known only once the program is online: a script may use it, unset as it is now.
    provided = {envvars.SCENARIO_RESPONDER} if responder else set()

    scripts, problems = _scripts_to_run(paths, exclude, _tags(only_tags), _tags(skip_tags), environ, provided, local)
    if junit is not None:
        problems += _junit_problems(junit)
    if problems:
        for problem in problems:
            click.echo(f"Error: {printable(problem)}", err=True)  # they quote scripts: client names, lines
        context.exit(ExitCode.BAD_INPUT)
    report = _start_report(junit) if junit is not None else None
    # SIGTERM ends a run as Ctrl-C does, so local servers are stopped and their temp dirs removed.
    try:
        with sigterm_as_ctrl_c():
            code = _run(
                scripts,
                local,
                (kind, nodes),
                (timeout, max_run_time),
                as_json,
                report,
                host,
                port,
                ca_cert,
                environ,
                responder,
                role,
                credentials,
            )
    except KeyboardInterrupt as interrupt:
        forget_interrupted_frames(interrupt)
        click.echo("interrupted: the scripts that ran are not summarised", err=True)
        code = ExitCode.INTERRUPTED
    finally:
        if report is not None:
            report.discard()  # not written: the previous report stays as it was
    context.exit(code)


def _scripts_to_run(
    paths: tuple[Path, ...],
    exclude: tuple[str, ...],
    only: set[str],
    skip: set[str],
    environ: dict[str, str],
    provided: set[str],
    local: bool,
) -> tuple[list[Script], list[str]]:
    """The scripts the tags select, their properties filled in from ``environ``; and every problem, file:line."""
    # Imported here, not at the top: they pull in slixmpp, which --help and usage errors do not need.
    from xmpp_ext.scenario.script import ScriptError, load, resolve_properties, unset_environment

    scripts, problems = [], []
    for path in _script_files(paths, exclude):
        try:
            scripts.append(load(path))
        except ScriptError as exc:
            problems.append(str(exc))
    scripts = [script for script in scripts if (not only or only & set(script.tags)) and not (skip & set(script.tags))]
    # Only the scripts that will run need their environment variables.
    unset = [
        f"{script.path}:{variable.line}: ${{{variable.name}}}: the environment variable {variable.key} is not set "
        f"(set it, or leave the script out{_skip_hint(script)})"
        for script in scripts
        for variable in unset_environment(script, environ, provided)
    ]
    problems += unset
    if not unset:
        for script in scripts:
            try:
                resolve_properties(script, environ)
            except ScriptError as exc:
                problems.append(str(exc))
    if local and not problems:  # once the properties' variables are filled in
        problems += [
            f"{script.path}:{spec.line}: client {spec.name}'s JID {spec.bare_jid} is not on the local server's "
            f"domain ({LOCAL_DOMAIN})"
            for script in scripts
            for spec in script.clients.values()
            if spec.domain != LOCAL_DOMAIN
        ]
    return scripts, problems


def _typed(context: click.Context, name: str) -> bool:
    return context.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE


def _skip_hint(script: Script) -> str:
    return f": --skip-tags {script.tags[0]}" if script.tags else ""


def _junit_problems(junit: Path) -> list[str]:
    """Why the --junit file could not be written, found before anything runs."""
    directory = junit.parent
    if not directory.is_dir():
        return [f"--junit {junit}: no such directory {directory}"]
    problem = replaceable_problem(junit)
    if problem is None and junit.exists() and not os.access(junit, os.W_OK):
        problem = "not writable"
    return [f"--junit {junit}: {problem}"] if problem else []


def _start_report(junit: Path) -> ReplacingFile:
    """The report's file, made beside ``junit`` now: a directory we cannot write in fails before any script runs."""
    try:
        return ReplacingFile(junit, mode=0o644)
    except OSError as exc:
        click.echo(f"Error: --junit {junit}: cannot write in {junit.parent} ({exc.strerror or exc})", err=True)
        click.get_current_context().exit(ExitCode.BAD_INPUT)


def _script_files(paths: tuple[Path, ...], exclude: tuple[str, ...]) -> list[Path]:
    """The files named, and every *.scs below each directory named (but what --exclude leaves out)."""
    from xmpp_ext.scenario.discovery import TooManyScripts, scripts_below

    files: list[Path] = []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        try:
            found = scripts_below(path, exclude)
        except TooManyScripts as exc:
            raise click.BadParameter(str(exc), param_hint="PATHS") from None
        if not found:
            left_out = " (after --exclude)" if exclude else ""
            raise click.BadParameter(f"no *.scs scripts below {path}{left_out}", param_hint="PATHS")
        files.extend(found)
    return files


def _responder(command: str | None, ready_timeout: float) -> ResponderCommand | None:
    if command is None:
        return None
    from xmpp_ext.scenario.program import ResponderCommand

    try:
        return ResponderCommand.parse(command, ready_timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--responder") from None


def _script_environment(credentials: PairCredentials | None, role: str | None) -> dict[str, str]:
    """What ${env:...} reads: this process's environment, and with --as that account's JID and password."""
    environ = dict(os.environ)
    if credentials is not None and role is not None:
        environ[envvars.SCENARIO_JID] = credentials.jid_of(role)
        environ[envvars.SCENARIO_PASSWORD] = credentials.password_of(role).reveal()
    return environ


def _run(
    scripts: list[Script],
    local: bool,
    where: tuple[str, int],
    timeouts: tuple[float, float],
    as_json: bool,
    report: ReplacingFile | None,
    host: str | None,
    port: int | None,
    ca_cert: Path | None,
    environ: dict[str, str],
    responder: ResponderCommand | None,
    role: str | None,
    credentials: PairCredentials | None,
) -> ExitCode:
    from xmpp_ext.scenario.compare import differences
    from xmpp_ext.scenario.output import JsonOutput, TextOutput
    from xmpp_ext.scenario.responder import run_script_with_responder
    from xmpp_ext.scenario.runner import OUT_OF_TIME, Endpoint, ScriptResult, StepStatus, run_script
    from xmpp_ext.session import patches

    kind, nodes = where  # the local server(s) --local starts, and how many ejabberd nodes
    timeout, max_run_time = timeouts  # a receives: step's longest wait; the whole run's
    deadline = time.monotonic() + max_run_time
    patches.apply()  # the command's clients run with the project's slixmpp patches
    output = JsonOutput(click.echo) if as_json else TextOutput(click.echo)
    results: list[ScriptResult] = []
    kinds = list(LOCAL_SERVER_KINDS) if kind == "all" else [kind]
    if local:
        from xmpp_ext.scenario.local import LocalRunFailed, run_on_local_servers

        try:
            announce = None if as_json else click.echo
            results_on_local_servers = run_on_local_servers(
                scripts, kinds, timeout, announce, environ, responder, deadline, nodes
            )
            for result in results_on_local_servers:
                output.script(result)
                results.append(result)
        except LocalRunFailed as exc:
            click.echo(f"Error: {printable(exc)}", err=True)
            return ExitCode.CONNECT
    else:
        endpoint = Endpoint(host, port, ca_cert)
        label = (host or "the scripts' servers") + (f":{port}" if port else "")
        for script in scripts:
            if time.monotonic() >= deadline:
                break
            if responder is None:
                result = run_until_stopped(run_script(script, endpoint, label, timeout, environ, deadline))
            else:
                assert role is not None and credentials is not None  # the command refuses --responder without them
                login = _responder_login(credentials, role, host, port, ca_cert)
                result = run_until_stopped(
                    run_script_with_responder(script, endpoint, label, timeout, environ, responder, login, deadline)
                )
            output.script(result)
            results.append(result)
    if len(kinds) > 1 and local:
        for script in scripts:
            runs = [result for result in results if result.script is script]
            if len(runs) == 2:
                output.differences(runs, differences(*runs))
    output.summary(results)
    statuses = {result.status for result in results}
    code = (
        ExitCode.CONNECT
        if StepStatus.ERROR in statuses
        else ExitCode.FAILED
        if StepStatus.FAILED in statuses
        else ExitCode.OK
    )
    not_started = len(scripts) * (len(kinds) if local else 1) - len(results)
    if not_started or any(step.message.startswith(OUT_OF_TIME) for result in results for step in result.steps):
        click.echo(
            f"Error: the run reached --max-run-time {max_run_time:g}s and was stopped; "
            f"{not_started} script run(s) not started",
            err=True,
        )
        code = max(code, ExitCode.FAILED)
    if report is not None:
        from xmpp_ext.scenario.junit import junit_bytes

        try:
            report.commit(junit_bytes(results))
        except OSError as exc:  # e.g. the disk filled up while the scripts ran
            click.echo(
                f"Error: --junit {report.path}: the report could not be written ({exc.strerror or exc})", err=True
            )
            return max(code, ExitCode.FAILED)
    return code


def _responder_login(credentials: PairCredentials, role: str, host: str | None, port: int | None, ca_cert: Path | None):
    """The .env file's other account, for --responder's program against a server of one's own."""
    from xmpp_ext.scenario.responder import ResponderLogin

    other = next(name for name in ROLES if name != role)
    return ResponderLogin.of_account(credentials.jid_of(other), credentials.password_of(other), host, port, ca_cert)
