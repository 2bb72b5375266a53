"""Tsung 1.7.0 (Debian's package, its jabber plugin) doing what ``xmppext load --kind ping`` does, measured alike.

Tsung logs ``2N`` sessions in over STARTTLS with SASL PLAIN (its only SASL
mechanism), at ``ramp`` sessions a second; half of them then send a XEP-0199
ping to the server every ``interval`` seconds (``ack="local"``: the next
stanza from the server ends the request, as the reply to it does), the other
half stay logged in and idle, as ``xmppext load``'s responders do in ping mode.
The generator is measured from /proc: the CPU time and resident memory of
Tsung's Erlang VM, sampled every second.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from xmpp_ext.servers import Account, LocalServer
from xmpp_ext.util.children import group_cpu_seconds

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
#: Seconds Tsung waits after booting before the first user arrives (its warm_time).
WARM_UP = 1.0
EPMD_PORT = 4369


@dataclass(frozen=True)
class Schedule:
    """When things happen, in seconds from the first user's arrival.

    Users arrive for ``login_seconds``; each pinger waits ``wait`` seconds after its own arrival (so the
    last one is in before anyone pings), then pings ``pings`` times, ``interval`` apart. Between
    ``window_from`` and ``window_to`` every session is logged in and every pinger is pinging: the
    window in which CPU per exchange and memory while pinging are measured.
    """

    sessions: int
    ramp: float
    exchanging: float  # seconds of the clean window
    interval: float

    @property
    def login_seconds(self) -> float:
        return self.sessions / self.ramp

    @property
    def wait(self) -> int:
        return math.ceil(self.login_seconds) + 2

    @property
    def pings(self) -> int:
        return math.ceil((self.login_seconds + self.exchanging) / self.interval) + 1

    @property
    def window_from(self) -> float:
        return self.login_seconds + self.wait + 1

    @property
    def window_to(self) -> float:
        return self.window_from + self.exchanging


@dataclass
class TsungRun:
    schedule: Schedule
    cpu_login_s: float
    cpu_exchanging_s: float
    window_seconds: float  # as sampled (close to schedule.exchanging)
    pings_counted: int  # ping transactions in Tsung's log, the whole run
    rss_before_kib: int
    rss_logged_in_kib: int
    rss_exchanging_kib: int
    mean_ms: float | None

    @property
    def sessions(self) -> int:
        return self.schedule.sessions

    @property
    def logins_per_second(self) -> float:
        return self.schedule.ramp

    @property
    def pings_per_second(self) -> float:
        """In the window: every pinger (half the sessions) once every interval."""
        return self.sessions / 2 / self.schedule.interval

    @property
    def kib_per_session(self) -> float:
        return (self.rss_logged_in_kib - self.rss_before_kib) / self.sessions

    @property
    def kib_per_session_exchanging(self) -> float:
        return (self.rss_exchanging_kib - self.rss_before_kib) / self.sessions

    @property
    def cpu_per_login_ms(self) -> float:
        return self.cpu_login_s / self.sessions * 1000

    @property
    def cpu_per_exchange_us(self) -> float | None:
        pings = self.pings_per_second * self.window_seconds
        return self.cpu_exchanging_s / pings * 1e6 if pings else None


def available() -> bool:
    return shutil.which("tsung") is not None


def config(server: LocalServer, users_csv: Path, schedule: Schedule) -> str:
    """The Tsung scenario of ``schedule``: half the users ping, the other half stay idle as long."""
    login = """
    <request subst="true"><jabber type="connect" ack="local">
      <xmpp_authenticate username="%%_username%%" passwd="%%_password%%"/></jabber></request>
    <request><jabber type="starttls" ack="bidi_ack"/></request>
    <request><jabber type="connect" ack="local"/></request>
    <transaction name="login">
      <request><jabber type="auth_sasl" ack="local"/></request>
      <request><jabber type="connect" ack="local"/></request>
      <request><jabber type="auth_sasl_bind" ack="local"/></request>
      <request><jabber type="auth_sasl_session" ack="local"/></request>
    </transaction>"""
    variables = """
    <setdynvars sourcetype="file" fileid="users" delimiter=";" order="iter">
      <var name="username"/><var name="password"/>
    </setdynvars>"""
    ping = quoteattr(f"<iq type='get' to='{server.domain}' id='ping'><ping xmlns='urn:xmpp:ping'/></iq>")
    sessions, interval = schedule.sessions, schedule.interval
    idle = math.ceil(schedule.wait + schedule.pings * interval)
    return f"""<?xml version="1.0"?>
<!DOCTYPE tsung SYSTEM "/usr/share/tsung/tsung-1.0.dtd">
<tsung loglevel="warning" version="1.0">
  <clients><client host="localhost" use_controller_vm="true" maxusers="{sessions + 10}"/></clients>
  <servers><server host="{server.host}" port="{server.port}" type="tcp"/></servers>
  <load>
    <arrivalphase phase="1" duration="{math.ceil(schedule.login_seconds) + 1}" unit="second">
      <users maxnumber="{sessions}" arrivalrate="{schedule.ramp:g}" unit="second"/>
    </arrivalphase>
  </load>
  <options>
    <option type="ts_jabber" name="domain" value="{server.domain}"/>
    <option type="ts_jabber" name="userid_max" value="0"/>
    <option name="file_server" id="users" value="{users_csv}"/>
  </options>
  <sessions>
    <session probability="50" name="pinger" type="ts_jabber" bidi="true">{variables}{login}
      <thinktime value="{schedule.wait}" random="false"/>
      <for from="1" to="{schedule.pings}" var="i">
        <transaction name="ping"><request><jabber type="raw" ack="local" data={ping}/></request></transaction>
        <thinktime value="{interval:g}" random="false"/>
      </for>
      <request><jabber type="close" ack="no_ack"/></request>
    </session>
    <session probability="50" name="idle" type="ts_jabber" bidi="true">{variables}{login}
      <thinktime value="{idle}" random="false"/>
      <request><jabber type="close" ack="no_ack"/></request>
    </session>
  </sessions>
</tsung>
"""


def run(
    server: LocalServer, accounts: list[Account], ramp: float, exchanging: float, interval: float, limit: float = 1800
) -> TsungRun:
    """Run Tsung against ``server`` as ``accounts``; measured from /proc while it runs (at most ``limit`` s)."""
    schedule = Schedule(len(accounts), ramp, exchanging, interval)
    epmd_was_running = _epmd_listening()
    with tempfile.TemporaryDirectory(prefix="xmppext-tsung-") as scratch:
        directory = Path(scratch)
        users = directory / "users.csv"
        descriptor = os.open(users, os.O_WRONLY | os.O_CREAT, 0o600)  # passwords: readable by us only
        with os.fdopen(descriptor, "w") as handle:
            handle.writelines(f"{account.jid.partition('@')[0]};{account.password.reveal()}\n" for account in accounts)
        scenario = directory / "scenario.xml"
        scenario.write_text(config(server, users, schedule))
        logs = directory / "logs"
        process = subprocess.Popen(
            ["tsung", "-f", str(scenario), "-l", str(logs), "-n", "start"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # epmd (which Erlang distribution starts) on loopback only, never on every interface.
            env={**os.environ, "HOME": scratch, "ERL_EPMD_ADDRESS": "127.0.0.1"},
        )
        try:
            return _measure(process, schedule, logs, limit)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, 9)
            process.wait()
            if not epmd_was_running:  # Erlang distribution started it for Tsung: nothing of ours stays behind
                _stop_epmd()


def _stop_epmd(within: float = 5.0) -> None:
    """``epmd -kill`` until epmd is gone: it refuses while it still counts Tsung's (killed) node as alive."""
    deadline = time.monotonic() + within
    while _epmd_listening() and time.monotonic() < deadline:
        subprocess.run(["epmd", "-kill"], capture_output=True, check=False)
        time.sleep(0.1)  # nothing to await: epmd notices the node's closed connection when it does


def _epmd_listening() -> bool:
    from xmpp_ext.servers.listeners import listening_sockets

    return any(port == EPMD_PORT for _address, port in listening_sockets())


def _measure(process, schedule: Schedule, logs: Path, limit: float) -> TsungRun:
    """Sample Tsung's VM every second: before the first user, when all are in, through the clean window."""
    started = time.monotonic()
    samples: list[tuple[float, float, int]] = []  # (seconds since start, CPU s, RSS KiB)
    while process.poll() is None and time.monotonic() - started < limit:
        samples.append((time.monotonic() - started, group_cpu_seconds(process.pid), _group_rss_kib(process.pid)))
        time.sleep(1.0)  # nothing to await: Tsung reports nothing as it goes
    if not samples:
        raise RuntimeError("tsung ended at once")

    def at(seconds: float) -> tuple[float, float, int]:
        return min(samples, key=lambda sample: abs(sample[0] - seconds))

    # The VM boots (its first ~0.3 s of CPU) and waits its warm-up second before the first user arrives.
    booted = next((sample for sample in samples if sample[1] >= 0.3), samples[0])
    first = at(booted[0] + WARM_UP)
    logged_in = at(first[0] + schedule.login_seconds + 1)
    window_from, window_to = at(first[0] + schedule.window_from), at(first[0] + schedule.window_to)
    counted, mean_ms = _ping_requests(logs)
    return TsungRun(
        schedule=schedule,
        cpu_login_s=logged_in[1] - first[1],
        cpu_exchanging_s=window_to[1] - window_from[1],
        window_seconds=window_to[0] - window_from[0],
        pings_counted=counted,
        rss_before_kib=first[2],
        rss_logged_in_kib=logged_in[2],
        rss_exchanging_kib=window_to[2],
        mean_ms=mean_ms,
    )


def _group_rss_kib(pgid: int) -> int:
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += int((entry / "statm").read_text().split()[1]) * PAGE_KIB
        except OSError:
            continue
    return total


def _ping_requests(logs: Path) -> tuple[int, float | None]:
    """How many ping transactions Tsung completed, and their mean time in ms, from its tsung.log.

    Its lines read ``stats: tr_ping COUNT MEAN STDDEV MAX MIN MEAN_SO_FAR COUNT_SO_FAR``; the last one has the totals.
    """
    count, mean = 0, None
    for log in logs.rglob("tsung.log"):
        for line in log.read_text(errors="replace").splitlines():
            fields = line.split()
            if len(fields) == 9 and fields[:2] == ["stats:", "tr_ping"] and fields[8].isdigit():
                count, mean = max(count, int(fields[8])), float(fields[7])
    return count, mean
