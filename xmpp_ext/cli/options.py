"""Options and parameter types shared by several commands, each declared once."""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from slixmpp import JID
from slixmpp.jid import InvalidJID

from xmpp_ext.util import envvars
from xmpp_ext.util.serverkinds import LOCAL_SERVER_KINDS

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

# The servers xmpp_ext.servers can start (not imported here: it is slow to import).
MAX_TIMEOUT = 3600.0  # an hour: a reply later than that is lost for any practical purpose
MAX_WINDOW = 4096  # requests in flight at once; beyond that a burst only measures the server's queue


# -- parameter types ----------------------------------------------------------------------------


class JidType(click.ParamType):
    """A JID; ``need_user``: one that can log in (user@domain)."""

    name = "jid"

    def __init__(self, need_user: bool = False) -> None:
        self.need_user = need_user

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> JID:
        if isinstance(value, JID):
            return value
        if not str(value).strip():
            self.fail("a JID cannot be empty", param, ctx)
        try:
            jid = JID(value)
        except InvalidJID as exc:
            self.fail(f"{value!r} is not a valid JID ({exc})", param, ctx)
        if self.need_user and not jid.user:
            self.fail(f"{value!r} has no user part; log in as user@domain", param, ctx)
        return jid


class BoundedNumber(click.ParamType):
    """A finite number more than 0 (or 0 or more) up to ``maximum``: nan, inf and 1e300 are refused."""

    name = "number"
    #: How the messages name what is asked for ("... is not a number of seconds", "seconds must be ...").
    unit = "a number"
    noun = "a number"

    def __init__(self, maximum: float = MAX_TIMEOUT, allow_zero: bool = False) -> None:
        self.maximum = maximum
        self.allow_zero = allow_zero

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not {self.unit}", param, ctx)
        low_ok = number >= 0 if self.allow_zero else number > 0
        if not math.isfinite(number) or not low_ok or number > self.maximum:
            lowest = "0 or more" if self.allow_zero else "more than 0"
            self.fail(
                f"{value!r}: {self.noun} must be a finite number, {lowest} and at most {self.maximum:g}", param, ctx
            )
        return number


class Seconds(BoundedNumber):
    """A finite, positive number of seconds up to ``maximum`` (nan, inf and 1e300 would never end a wait)."""

    name = "seconds"
    unit = "a number of seconds"
    noun = "seconds"


class XmlText(click.ParamType):
    """Text XML can carry; anything else would make the server close the stream, so it is refused here."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from xmpp_ext.plugin import ExampleTagError, check_xml_text

        try:
            return check_xml_text(str(value))
        except ExampleTagError as exc:
            self.fail(str(exc), param, ctx)


class BooleanWord(click.Choice):
    """true|false|1|0 in any case, read by the plugin's own rule into a bool."""

    def __init__(self) -> None:
        super().__init__(["true", "false", "1", "0"], case_sensitive=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> bool:
        if isinstance(value, bool):
            return value
        from xmpp_ext.plugin import parse_boolean

        return parse_boolean(super().convert(value, param, ctx))


class InnerTag(click.ParamType):
    """``NAME:K=V,K=V`` (an inner element of the tag) -> (NAME, {K: V})."""

    name = "NAME:K=V,..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, tuple):
            return value
        from xmpp_ext.plugin import ExampleTagError, check_xml_attributes, check_xml_name

        spec = str(value)
        name, _, fields = spec.partition(":")
        try:
            check_xml_name(name, "inner tag name")
            attributes = {}
            for item in filter(None, fields.split(",")):
                key, equals, attribute_value = item.partition("=")
                if not equals or not key:
                    raise ExampleTagError(f"{item!r} is not KEY=VALUE")
                if key in attributes:
                    raise ExampleTagError(f"{key!r} is given twice")
                attributes[key] = attribute_value
            return name, check_xml_attributes(attributes)
        except ExampleTagError as exc:
            self.fail(f"{spec!r}: {exc}; expected NAME:KEY=VALUE,..., e.g. inside_tag:first_field=1", param, ctx)


class CaCertFile(click.Path):
    """A readable file holding at least one PEM certificate (checked now, not at the TLS handshake)."""

    def __init__(self) -> None:
        super().__init__(exists=True, dir_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = super().convert(value, param, ctx)
        import ssl

        try:
            ssl.create_default_context(cafile=str(path))
        except (ssl.SSLError, OSError, ValueError):
            self.fail(f"{path} holds no PEM certificate (expected a CA certificate, -----BEGIN CERTIFICATE-----)")
        return path


# -- the login ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    """What the connection options said: who logs in, where, trusting what. ``settings()`` completes it."""

    jid: JID
    password: str | None = field(repr=False)
    password_on_command_line: bool
    host: str | None
    port: int | None
    ca_cert: Path | None
    insecure: bool
    login_timeout: float
    direct_tls: bool = False
    password_source: str = f"-p or {envvars.PASSWORD}"

    def settings(self, jid: JID | None = None):
        """The ConnectionSettings to log in with; asks for the password on a terminal when none was given.

        Called after a command has checked the rest of its input, so a usage
        error never comes after a password prompt.
        """
        from xmpp_ext.session import ConnectionSettings
        from xmpp_ext.util.secret import Secret

        jid = jid or self.jid
        password, source = self.password, self.password_source
        if password and self.password_on_command_line:
            click.secho(
                "WARNING: a password on the command line is visible to every user of this machine (ps, /proc); "
                f"prefer {envvars.PASSWORD} or the prompt",
                fg="yellow",
                err=True,
            )
        if not password:
            if not sys.stdin.isatty():
                raise click.UsageError(
                    f"no password: set {envvars.PASSWORD}, pass -p/--password, or run on a terminal to be prompted"
                )
            import getpass  # only on a terminal: every import counts in a one-shot's start-up

            try:
                password = getpass.getpass(f"Password for {jid.bare}: ")
            except KeyboardInterrupt:
                from xmpp_ext.cli.outcome import Stopped

                raise Stopped("interrupted at the password prompt") from None
            except EOFError:  # Ctrl-D: no password, like an empty line
                password = ""
            source = "typed at the prompt"
            if not password:
                raise click.UsageError("no password given at the prompt")
        if self.insecure:
            click.secho("WARNING: --insecure: the server's TLS certificate is NOT verified", fg="red", err=True)
        return ConnectionSettings(
            jid=jid,
            password=Secret(password),
            host=self.host,
            port=self.port,
            ca_cert=self.ca_cert,
            insecure=self.insecure,
            connect_timeout=self.login_timeout,
            direct_tls=self.direct_tls,
            password_source=source,
        )


def all_of(decorators: list[Decorator]) -> Decorator:
    """One decorator applying ``decorators`` in their order of listing (as if stacked top to bottom)."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return decorate


def server_address_options(host_help: str) -> list[Decorator]:
    """--host, --port and --ca-cert: where a client connects and which CA it trusts there."""
    return [
        click.option("--host", envvar=envvars.HOST, show_envvar=True, help=host_help),
        click.option(
            "--port",
            envvar=envvars.PORT,
            show_envvar=True,
            type=click.IntRange(1, 65535),
            help="Client port (STARTTLS).",
        ),
        click.option(
            "--ca-cert",
            envvar=envvars.CA_CERT,
            show_envvar=True,
            type=CaCertFile(),
            help="Trust this CA certificate (PEM) for the server, e.g. a self-signed one.",
        ),
    ]


def tls_and_login_options(login_timeout: float) -> list[Decorator]:
    """--insecure, --direct-tls and --login-timeout (default ``login_timeout`` seconds)."""
    return [
        click.option(
            "--insecure", is_flag=True, help="Do not verify the server's certificate (never on a real network)."
        ),
        click.option(
            "--direct-tls",
            is_flag=True,
            help="TLS from the first byte on a dedicated port (XEP-0368; --port default 5223) instead of STARTTLS.",
        ),
        click.option(
            "--login-timeout",
            type=Seconds(300),
            default=login_timeout,
            show_default=True,
            help="Seconds to wait for a session (connect, TLS, authentication).",
        ),
    ]


_LOGIN_PARAMETERS = ("jid", "password", "host", "port", "ca_cert", "insecure", "login_timeout", "direct_tls")


def connection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options of every command that logs in; the command receives them as one ``login: Login``."""
    options = [
        click.option(
            "-j",
            "--jid",
            envvar=envvars.JID,
            show_envvar=True,
            type=JidType(need_user=True),
            help="Log in as this JID (required unless --as takes it from the .env file).",
        ),
        click.option(
            "-p",
            "--password",
            envvar=envvars.PASSWORD,
            show_envvar=True,
            help="Password (prefer the environment variable or the prompt: a command line is visible to other users).",
        ),
        *server_address_options("Server address [default: the JID's domain, via DNS SRV]."),
        *tls_and_login_options(login_timeout=10.0),
    ]
    options += [
        click.option(
            "--as",
            "role",
            type=click.Choice(ROLES),
            help="Log in as this account of the .env file (xmppext local-server writes one): its JID, password, "
            "host, port and CA; options given on the command line still win.",
        ),
        env_file_option("The .env file --as reads."),
    ]
    for option in reversed(options):
        function = option(function)

    @functools.wraps(function)
    def wrapper(**kwargs: Any) -> Any:
        context = click.get_current_context()
        values = {name: kwargs.pop(name) for name in _LOGIN_PARAMETERS}
        role, env_file = kwargs.pop("role"), kwargs.pop("env_file")
        if role is not None:
            values = _from_env_file(context, values, role, env_file)
        if values["jid"] is None:
            raise click.UsageError(
                f"Missing option '-j' / '--jid' (or {envvars.JID}, or --as sender|responder with a .env file)"
            )
        source = context.get_parameter_source("password")
        from_command_line = source is click.core.ParameterSource.COMMANDLINE
        if from_command_line:
            values["password_source"] = "-p/--password"
        elif role is not None:
            values["password_source"] = f"{role.upper()}_PASSWORD in {env_file}"
        elif source is click.core.ParameterSource.ENVIRONMENT:
            values["password_source"] = envvars.PASSWORD
        return function(login=Login(password_on_command_line=from_command_line, **values), **kwargs)

    return wrapper


ROLES = envvars.ROLES


def load_env_file(env_file: Path):
    """The credentials in ``env_file`` (``PairCredentials``), with a warning if others can read it.

    Every command that reads a .env file reads it here: a file that cannot be read, or that names a CA
    certificate that is not there, is a usage error (exit 2).
    """
    from xmpp_ext.util.envfile import EnvFileError, exposure_warnings, read_env_file

    try:
        credentials = read_env_file(env_file)
    except EnvFileError as exc:
        raise click.UsageError(str(exc)) from None
    if credentials.ca_cert is not None and not credentials.ca_cert.is_file():
        raise click.UsageError(missing_ca_message(env_file, credentials.ca_cert))
    for warning in exposure_warnings(env_file):
        click.secho(f"WARNING: {warning}", fg="yellow", err=True)
    return credentials


def _from_env_file(context: click.Context, values: dict[str, Any], role: str, env_file: Path) -> dict[str, Any]:
    """``values`` completed from ``role``'s account in ``env_file``: what was typed on the command line wins."""
    credentials = load_env_file(env_file)
    from_file = {
        "jid": JidType(need_user=True).convert(credentials.jid_of(role), None, context),
        "password": credentials.password_of(role).reveal(),
        "host": credentials.host,
        "port": credentials.port,
        "ca_cert": credentials.ca_cert,
        "insecure": credentials.insecure,
    }
    completed = dict(values)
    for name, value in from_file.items():
        if context.get_parameter_source(name) is not click.core.ParameterSource.COMMANDLINE:
            completed[name] = value
    return completed


def missing_ca_message(env_file: Path, ca_cert: Path) -> str:
    return (
        f"{env_file}: {envvars.CA_CERT} {ca_cert} does not exist (was its local server stopped? "
        "run xmppext local-server again, or xmppext run-pair --local)"
    )


def verbosity_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``-d/--debug`` and ``-q/--quiet``: the command receives ``verbosity`` (1, -1, or 0 for neither)."""
    function = click.option("-q", "--quiet", "verbosity", flag_value=-1, help="Only errors and the summary.")(function)
    function = click.option("-d", "--debug", "verbosity", flag_value=1, help="Log everything, passwords redacted.")(
        function
    )

    @functools.wraps(function)
    def wrapper(**kwargs: Any) -> Any:
        kwargs["verbosity"] = kwargs.get("verbosity") or 0
        return function(**kwargs)

    return wrapper


def timeout_option(help_text: str) -> Decorator:
    return click.option("--timeout", type=Seconds(), default=10.0, show_default=True, help=help_text)


def server_option(help_text: str = "Which local server to start.") -> Decorator:
    return click.option(
        "--server",
        "server_kind",
        type=click.Choice(LOCAL_SERVER_KINDS),
        default="prosody",
        show_default=True,
        help=help_text,
    )


#: Most nodes of a local ejabberd cluster (xmpp_ext.servers.cluster.MAX_NODES; not imported here: server code).
MAX_NODES = 8
CLUSTERED_KIND = "ejabberd"


def nodes_option(help_text: str) -> Decorator:
    """``--nodes N``: the local server as an ejabberd cluster of N nodes on loopback (check with check_nodes)."""
    return click.option("--nodes", type=click.IntRange(1, MAX_NODES), default=1, show_default=True, help=help_text)


def check_one_payload_source(path: Path | None, xml: str | None) -> None:
    """--raw's payload comes from exactly one of --xml and --path (send, load)."""
    if path is not None and xml is not None:
        raise click.UsageError("--path and --xml both give the payload: choose one")
    if path is None and xml is None:
        raise click.UsageError("--raw needs the payload: --xml 'XML', --path FILE, or --path - for standard input")


def check_nodes(nodes: int, server_kind: str) -> None:
    """UsageError for --nodes > 1 with a server that does not cluster."""
    if nodes > 1 and server_kind != CLUSTERED_KIND:
        raise click.UsageError(
            f"--nodes {nodes}: only {CLUSTERED_KIND} runs as a cluster; add --server {CLUSTERED_KIND}"
        )


def env_file_option(help_text: str) -> Decorator:
    return click.option(
        "--env-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=Path(".env"),
        show_default=True,
        help=help_text,
    )


def configure_logging(verbosity: int, settings: Any) -> None:
    """Logging for a command that logs in: its secrets are redacted from every line."""
    from xmpp_ext.util.logs import configure_logging as configure

    configure(verbosity, [settings.password])
