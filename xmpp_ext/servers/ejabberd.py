"""ejabberd (Debian's package, 23.01) as a throwaway local server.

Facts this is built on, seen with Debian's package:

* ``ejabberdctl`` run as root re-runs itself as the ``ejabberd`` user, so the
  server's dir (config, certificate, logs, spool) is handed to that user.
* Debian's ``/etc/ejabberd/ejabberdctl.cfg`` sets EJABBERD_CONFIG_PATH, which
  overrides ``--config``: with it the stock config runs and listens on all
  interfaces. A private ``--ctl-config`` without that line is always given.
* Erlang distribution normally starts ``epmd`` on every interface and leaves it
  running. ERL_DIST_PORT makes ejabberdctl use one fixed port instead (no
  epmd at all), and the node binds it on 127.0.0.1 only.
* In a cluster (servers/cluster.py) nodes find each other's distribution
  port through a port mapper: a private ``epmd`` on 127.0.0.1 (``epmd_port``),
  never the machine's. Each node then listens on its own fixed distribution
  port, and ejabberdctl's control commands get a config of their own that
  does not listen at all (they would otherwise ask for the node's port).
* ``ejabberdctl register`` takes the password on its command line, visible to
  every user; accounts are created with in-band registration (XEP-0077) over
  the TLS-protected client port instead, and stored as SCRAM hashes.
"""

from __future__ import annotations

import base64
import os
import pwd
import re
import secrets
import subprocess
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from xmpp_ext.servers import inband
from xmpp_ext.servers.base import Account, LocalServer, ServerFailed, free_port
from xmpp_ext.servers.scram import ScramCredentials, derive

SERVICE_USER = "ejabberd"
#: ejabberd's own iteration count for the SCRAM credentials it stores.
SCRAM_ITERATIONS = 4096
#: The ejabberdctl.cfg the node starts with, and the one its control commands (import, join_cluster) read.
NODE_CONFIG = "ejabberdctl.cfg"
CONTROL_CONFIG = "ejabberdctl-control.cfg"
#: Seconds a control command (join_cluster, list_cluster) may take.
CONTROL_TIMEOUT = 60.0
#: Seconds one ``ejabberdctl import_piefxis`` of a batch of accounts may take (10,000 take a few).
IMPORT_TIMEOUT = 120.0


def _yaml_string(value: object) -> str:
    """A double-quoted YAML scalar (our values: paths, hosts, names)."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def bytes_per_second(rate: str) -> int:
    """'2kb/s' (Prosody's notation, used for both servers) -> 2048."""
    match = re.fullmatch(r"\s*(\d+)\s*(b|kb|mb)?(?:/s)?\s*", rate.lower())
    if not match:
        raise ValueError(f"rate must look like 2kb/s, not {rate!r}")
    scale = {"b": 1, None: 1, "kb": 1024, "mb": 1024 * 1024}[match.group(2)]
    return int(match.group(1)) * scale


class EjabberdServer(LocalServer):
    kind = "ejabberd"
    program = "ejabberdctl"

    def __init__(self, *args: object, epmd_port: int | None = None, **kwargs: object) -> None:
        """``epmd_port``: a cluster node, found through the private epmd there (None: a server on its own)."""
        self.epmd_port = epmd_port
        super().__init__(*args, **kwargs)
        self.node = f"xmppext{secrets.token_hex(4)}@localhost"
        self._unregistered: list[Account] = []
        self._unimported: list[Account] = []
        for name in ("logs", "spool"):
            (self.workdir / name).mkdir(exist_ok=True)

    @property
    def log_path(self) -> Path:
        return self.workdir / "logs" / "ejabberd.log"

    def _choose_ports(self) -> None:
        super()._choose_ports()
        self.dist_port = free_port(self.host)

    @property
    def listeners(self) -> set[tuple[str, int]]:
        # The client ports, and Erlang distribution (for ejabberdctl), all on loopback.
        return {*super().listeners, (self.host, self.dist_port)}

    def _command(self) -> list[str]:
        return [*self._ctl(NODE_CONFIG), "foreground"]

    def _ctl(self, config: str = CONTROL_CONFIG) -> list[str]:
        """ejabberdctl with this server's private config and node: append a command to run it.

        ``config``: the ejabberdctl.cfg to read (the node's own, ``NODE_CONFIG``, only to start it).
        """
        return [
            self.program,
            "--config-dir",
            str(self.workdir),
            "--config",
            str(self.workdir / "ejabberd.yml"),
            "--ctl-config",
            str(self.workdir / config),
            "--logs",
            str(self.workdir / "logs"),
            "--spool",
            str(self.workdir / "spool"),
            "--node",
            self.node,
        ]

    def _write_config(self) -> None:
        listener = [
            f"    port: {self.port}",
            f"    ip: {_yaml_string(self.host)}",
            "    module: ejabberd_c2s",
            "    starttls_required: true",
            "    access: c2s",
            "    shaper: c2s_shaper",
        ]
        if self.for_load:  # a listen queue for a burst of thousands of logins (the default is 128)
            listener.append("    backlog: 4096")
        if self.stanza_size_limit is not None:
            listener.append(f"    max_stanza_size: {int(self.stanza_size_limit)}")
        shaper = "none"
        shapers = ""
        if self.rate_limit is not None:
            shaper = "limited"
            shapers = f"shaper:\n  limited: {bytes_per_second(self.rate_limit)}\n"
        listen = "\n".join(listener)
        # For load: every account's credentials cached (the default 1,000 would be shrunk again and again).
        auth_cache = "auth_cache_size: 100000\n" if self.for_load else ""
        config = f"""# Generated by xmpp_ext.servers for one throwaway run.
hosts:
  - {_yaml_string(self.domain)}
loglevel: {"warning" if self.for_load else "info"}
log_rotate_count: 0
hide_sensitive_log_data: true
certfiles:
  - {_yaml_string(self.certificates.cert)}
  - {_yaml_string(self.certificates.key)}
listen:
  -
{listen}
  -
    port: {self.direct_tls_port}
    ip: {_yaml_string(self.host)}
    module: ejabberd_c2s
    tls: true
    access: c2s
    shaper: c2s_shaper
auth_method: internal
auth_password_format: scram
{auth_cache}# Accounts are created by in-band registration from this process: no delay between them.
registration_timeout: infinity
{shapers}shaper_rules:
  c2s_shaper: {shaper}
acl:
  loopback:
    ip:
      - 127.0.0.0/8
access_rules:
  c2s:
    allow: all
  loopback_only:
    allow: loopback
  register:
    allow: all
# No server-to-server traffic at all.
s2s_access: none
modules:
  mod_disco: {{}}
  mod_ping: {{}}
  mod_roster: {{}}
  # Stream management (XEP-0198); resumption is on by default (resume_timeout 300 s).
  mod_stream_mgmt: {{}}
  mod_version:
    show_os: false
  mod_register:
    access: register
    ip_access: loopback_only
  # An internal component, so the server has disco items (as the Prosody config has).
  mod_muc:
    host: {_yaml_string("conference." + self.domain)}
"""
        (self.workdir / "ejabberd.yml").write_text(config)
        self._write_ctl_configs()
        (self.workdir / "inetrc").write_text('{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n')
        self._hand_to_service_user()

    def _write_ctl_configs(self) -> None:
        # Deliberately without EJABBERD_CONFIG_PATH (see the module docstring).
        # One Erlang port per connection: room for every session of a load run.
        common = f"ERLANG_NODE={self.node}\n" + ("ERL_MAX_PORTS=65536\n" if self.for_load else "")
        if self.epmd_port is None:  # no port mapper: the node and its control commands meet on one fixed port
            dist = f"ERL_DIST_PORT={self.dist_port}\n"
            node = control = dist + 'ERL_OPTIONS="-kernel inet_dist_use_interface {127,0,0,1}"\n'
        else:
            # The cluster's private epmd; Erlang must not start one of its own (-start_epmd false): that one
            # would listen on every interface and outlive the run. The node's distribution port: fixed, loopback.
            mapper = f"export ERL_EPMD_PORT={self.epmd_port}\n"
            node = mapper + (
                'ERL_OPTIONS="-start_epmd false -kernel inet_dist_use_interface {127,0,0,1} '
                f'inet_dist_listen_min {self.dist_port} inet_dist_listen_max {self.dist_port}"\n'
            )
            control = mapper + 'ERL_OPTIONS="-start_epmd false -dist_listen false"\n'
        (self.workdir / NODE_CONFIG).write_text(common + node)
        (self.workdir / CONTROL_CONFIG).write_text(common + control)

    def control(self, *command: str, timeout: float = CONTROL_TIMEOUT) -> str:
        """Run an ejabberdctl command against this node; its output, or ServerFailed with its last line."""
        try:
            done = subprocess.run(
                [*self._ctl(), *command],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=self.workdir,
                **self._as_service_user(),
            )
        except subprocess.TimeoutExpired:
            raise ServerFailed(f"ejabberdctl {command[0]} did not finish within {timeout:g}s") from None
        if done.returncode != 0:
            detail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
            raise ServerFailed(f"ejabberdctl {command[0]} failed: {detail[0]}")
        return done.stdout

    def _service_user(self) -> pwd.struct_passwd | None:
        """The account the server runs as when we are root (ejabberdctl insists on it)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise ServerFailed(f"there is no {SERVICE_USER} user; is Debian's ejabberd package installed?") from None

    def _hand_to_service_user(self) -> None:
        user = self._service_user()
        if user is None:
            return
        for path in [self.workdir, *self.workdir.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)

    def _run_as(self) -> tuple[int, int] | None:
        # Run ejabberdctl as the service user ourselves: as root it would re-run
        # itself through `su -c`, which starts a new session, and the server
        # would then escape our process group (and so every clean-up).
        user = self._service_user()
        return None if user is None else (user.pw_uid, user.pw_gid)

    def _environment(self) -> dict[str, str] | None:
        user = self._service_user()
        return None if user is None else dict(os.environ, HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name)

    def _as_service_user(self) -> dict[str, object]:
        """subprocess arguments that run an ejabberdctl command as the server's own user (see _run_as)."""
        run_as = self._run_as()
        if run_as is None:
            return {}
        return {"user": run_as[0], "group": run_as[1], "extra_groups": [], "env": self._environment()}

    def _write_account(self, account: Account) -> None:
        if self.running:
            self._register(account)
        else:
            self._unregistered.append(account)

    def _after_start(self) -> None:
        while self._unregistered:
            self._register(self._unregistered.pop(0))
        if self._unimported:
            accounts, self._unimported = self._unimported, []
            self._import(accounts)

    def _write_accounts(self, accounts: Sequence[Account]) -> None:
        # In bulk: one `ejabberdctl import_piefxis` (XEP-0227) of SCRAM credentials derived here once,
        # instead of one in-band registration each (ejabberd derives them itself: ~7 ms of its CPU apiece).
        if self.running:
            self._import(accounts)
        else:
            self._unimported.extend(accounts)

    def _import(self, accounts: Sequence[Account]) -> None:
        if not accounts:
            return
        credentials = derive(accounts[0].password, secrets.token_bytes(16), SCRAM_ITERATIONS)
        export = self.workdir / f"import-{secrets.token_hex(4)}.xml"
        # Only derived keys are in the file, never the password; it lives in the server's private dir.
        export.write_text(_piefxis(self.domain, [account.localpart for account in accounts], credentials))
        try:
            self._hand_to_service_user()
            self.control("import_piefxis", str(export), timeout=IMPORT_TIMEOUT)
        except ServerFailed as exc:
            raise ServerFailed(f"ejabberd did not import {len(accounts)} accounts: {exc}") from None
        finally:
            export.unlink(missing_ok=True)

    def _register(self, account: Account) -> None:
        """Create ``account`` by in-band registration (XEP-0077)."""
        inband.register(self, account)

    def _delete_account(self, account: Account) -> None:
        if not self.running:
            if account in self._unregistered:
                self._unregistered.remove(account)
                return
            raise ServerFailed(f"cannot remove {account.jid}: {self.kind} is not running")
        inband.unregister(self, account)


def _piefxis(domain: str, localparts: Sequence[str], credentials: ScramCredentials) -> str:
    """A XEP-0227 document creating ``localparts`` at ``domain``, all with the same SCRAM-SHA-1 credentials.

    ejabberd 23.01 keeps SCRAM values as base64 text in its records, but its XEP-0227 import decodes the
    base64 of the file into that record as they are: each value is therefore written base64-encoded twice
    (one login with the first account proves the result, see LocalServer.add_accounts' callers).
    """

    def twice(value: bytes) -> str:
        return base64.b64encode(base64.b64encode(value)).decode()

    scram = (
        "<scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'>"
        f"<iter-count>{credentials.iterations}</iter-count>"
        f"<salt>{twice(credentials.salt)}</salt>"
        f"<server-key>{twice(credentials.server_key)}</server-key>"
        f"<stored-key>{twice(credentials.stored_key)}</stored-key>"
        "</scram-credentials>"
    )
    users = "".join(f"<user name={quoteattr(localpart)}>{scram}</user>\n" for localpart in localparts)
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        f"<server-data xmlns='urn:xmpp:pie:0'><host jid={quoteattr(domain)}>\n{users}</host></server-data>\n"
    )
