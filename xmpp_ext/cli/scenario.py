"""``xmppext scenario``: run Scansion scripts against real servers and say what differs.

The Click command lives here as ``command``; the root group registers it.
Parsing and presentation only: scripts are read by script.py, run by
runner.py, printed by output.py and junit.py.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from xmpp_ext.cli.options import Seconds, all_of, server_address_options
from xmpp_ext.util.display import printable
from xmpp_ext.util.exitcodes import ExitCode, help_epilog
from xmpp_ext.util.files import ReplacingFile, replaceable_problem
from xmpp_ext.util.serverkinds import LOCAL_SERVER_KINDS
from xmpp_ext.util.stopsignals import sigterm_as_ctrl_c

if TYPE_CHECKING:
    from xmpp_ext.scenario.script import Script

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
@all_of(server_address_options("Connect every client here instead of the script's server."))
def command(
    paths: tuple[Path, ...],
    local: bool,
    kind: str,
    only_tags: tuple[str, ...],
    skip_tags: tuple[str, ...],
    timeout: float,
    max_run_time: float,
    as_json: bool,
    junit: Path | None,
    host: str | None,
    port: int | None,
    ca_cert: Path | None,
) -> None:
    """Run Scansion scripts (FILE.scs, or every *.scs in DIR) and check each stanza received.

    \b
    Without --local the clients log in where the scripts say (connect_host,
    connect_port, or the JID's domain), TLS verified; --host/--port/--ca-cert
    send every client to one server instead. The accounts must exist there.
    """
    context = click.get_current_context()
    if not local and context.get_parameter_source("kind") is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--server chooses the server --local starts; use it with --local")
    if local and (host or port or ca_cert):
        raise click.UsageError("--host, --port and --ca-cert name a server of your own; --local starts one")

    # Imported here, not at the top: they pull in slixmpp, which --help and usage errors do not need.
    from xmpp_ext.scenario.script import ScriptError, load

    scripts, problems = [], []
    for path in _script_files(paths):
        try:
            scripts.append(load(path))
        except ScriptError as exc:
            problems.append(str(exc))
    if local:
        problems += [
            f"{script.path}:{spec.line}: client {spec.name}'s JID {spec.bare_jid} is not on the local server's "
            f"domain ({LOCAL_DOMAIN})"
            for script in scripts
            for spec in script.clients.values()
            if spec.domain != LOCAL_DOMAIN
        ]
    only, skip = _tags(only_tags), _tags(skip_tags)
    scripts = [script for script in scripts if (not only or only & set(script.tags)) and not (skip & set(script.tags))]
    # Only the scripts that will run need their environment variables.
    problems += [
        f"{script.path}:{variable.line}: ${{{variable.name}}}: the environment variable {variable.key} is not set "
        f"(set it, or leave the script out{_skip_hint(script)})"
        for script in scripts
        for variable in script.variables
        if variable.kind == "env" and not os.environ.get(variable.key)
    ]
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
            code = _run(scripts, local, kind, (timeout, max_run_time), as_json, report, host, port, ca_cert)
    except KeyboardInterrupt:
        click.echo("interrupted: the scripts that ran are not summarised", err=True)
        code = ExitCode.INTERRUPTED
    finally:
        if report is not None:
            report.discard()  # not written: the previous report stays as it was
    context.exit(code)


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


def _script_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.scs"))  # this directory's scripts, not those of its subdirectories
            if not found:
                raise click.BadParameter(f"no *.scs scripts in {path}", param_hint="PATHS")
            files.extend(found)
        else:
            files.append(path)
    return files


def _run(
    scripts: list[Script],
    local: bool,
    kind: str,
    timeouts: tuple[float, float],
    as_json: bool,
    report: ReplacingFile | None,
    host: str | None,
    port: int | None,
    ca_cert: Path | None,
) -> ExitCode:
    from xmpp_ext.scenario.compare import differences
    from xmpp_ext.scenario.output import JsonOutput, TextOutput
    from xmpp_ext.scenario.runner import OUT_OF_TIME, Endpoint, ScriptResult, Status, run_script
    from xmpp_ext.session import patches

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
            for result in run_on_local_servers(scripts, kinds, timeout, announce, deadline):
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
            result = asyncio.run(run_script(script, endpoint, label, timeout, deadline=deadline))
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
        ExitCode.CONNECT if Status.ERROR in statuses else ExitCode.FAILED if Status.FAILED in statuses else ExitCode.OK
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
