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


@dataclass
class TsungRun:
    sessions: int
    logins_per_second: float  # planned arrival rate
    login_seconds: float
    cpu_login_s: float
    cpu_exchanging_s: float
    exchanging_seconds: float
    pings: int  # requests Tsung counted during the exchanging phase
    rss_before_kib: int
    rss_logged_in_kib: int
    rss_exchanging_kib: int
    pings_per_second: float
    mean_ms: float | None

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
        return self.cpu_exchanging_s / self.pings * 1e6 if self.pings else None


def available() -> bool:
    return shutil.which("tsung") is not None


def config(server: LocalServer, users_csv: Path, sessions: int, ramp: float, pings: int, interval: float) -> str:
    """The Tsung scenario: ``sessions`` users at ``ramp``/s; half ping ``pings`` times, every ``interval`` s."""
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
    idle_seconds = max(1, round(pings * interval))
    return f"""<?xml version="1.0"?>
<!DOCTYPE tsung SYSTEM "/usr/share/tsung/tsung-1.0.dtd">
<tsung loglevel="warning" version="1.0">
  <clients><client host="localhost" use_controller_vm="true" maxusers="{sessions + 10}"/></clients>
  <servers><server host="{server.host}" port="{server.port}" type="tcp"/></servers>
  <load>
    <arrivalphase phase="1" duration="{max(1, round(sessions / ramp)) + 1}" unit="second">
      <users maxnumber="{sessions}" arrivalrate="{ramp:g}" unit="second"/>
    </arrivalphase>
  </load>
  <options>
    <option type="ts_jabber" name="domain" value="{server.domain}"/>
    <option type="ts_jabber" name="userid_max" value="0"/>
    <option name="file_server" id="users" value="{users_csv}"/>
  </options>
  <sessions>
    <session probability="50" name="pinger" type="ts_jabber" bidi="true">{variables}{login}
      <thinktime value="{idle_seconds}" random="false"/>
      <for from="1" to="{pings}" var="i">
        <transaction name="ping"><request><jabber type="raw" ack="local" data={ping}/></request></transaction>
        <thinktime value="{interval:g}" random="false"/>
      </for>
      <request><jabber type="close" ack="no_ack"/></request>
    </session>
    <session probability="50" name="idle" type="ts_jabber" bidi="true">{variables}{login}
      <thinktime value="{2 * idle_seconds}" random="false"/>
      <request><jabber type="close" ack="no_ack"/></request>
    </session>
  </sessions>
</tsung>
"""


def run(
    server: LocalServer, accounts: list[Account], ramp: float, pings: int, interval: float, limit: float = 1800
) -> TsungRun:
    """Run Tsung against ``server`` as ``accounts``; measured from /proc while it runs (at most ``limit`` s)."""
    epmd_was_running = _epmd_listening()
    with tempfile.TemporaryDirectory(prefix="xmppext-tsung-") as scratch:
        directory = Path(scratch)
        users = directory / "users.csv"
        descriptor = os.open(users, os.O_WRONLY | os.O_CREAT, 0o600)  # passwords: readable by us only
        with os.fdopen(descriptor, "w") as handle:
            handle.writelines(f"{account.jid.partition('@')[0]};{account.password.reveal()}\n" for account in accounts)
        scenario = directory / "scenario.xml"
        scenario.write_text(config(server, users, len(accounts), ramp, pings, interval))
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
            return _measure(process, len(accounts), ramp, pings, interval, logs, limit)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, 9)
            process.wait()
            if not epmd_was_running:  # Erlang distribution started it for Tsung: nothing of ours stays behind
                subprocess.run(["epmd", "-kill"], capture_output=True, check=False)


def _epmd_listening() -> bool:
    from xmpp_ext.servers.listeners import listening_sockets

    return any(port == EPMD_PORT for _address, port in listening_sockets())


def _measure(process, sessions: int, ramp: float, pings: int, interval: float, logs: Path, limit: float) -> TsungRun:
    """Sample Tsung's VM every second: before logins, when all are in, during the pings."""
    started = time.monotonic()
    login_seconds = sessions / ramp
    idle_seconds = max(1, round(pings * interval))
    samples: list[tuple[float, float, int]] = []  # (seconds since start, CPU s, RSS KiB)
    while process.poll() is None and time.monotonic() - started < limit:
        samples.append((time.monotonic() - started, group_cpu_seconds(process.pid), _group_rss_kib(process.pid)))
        time.sleep(1.0)  # nothing to await: Tsung reports nothing as it goes
    if not samples:
        raise RuntimeError("tsung ended at once")

    def at(seconds: float) -> tuple[float, float, int]:
        return min(samples, key=lambda sample: abs(sample[0] - seconds))

    # The VM boots (its first ~0.3 s of CPU), waits its warm-up second, then users arrive for sessions/ramp
    # seconds; the pingers idle, then ping (interval apart) while the idle sessions wait longer.
    booted = next((sample for sample in samples if sample[1] >= 0.3), samples[0])
    first = at(booted[0] + WARM_UP)
    logged_in = at(first[0] + login_seconds + 1)
    pinging_from = at(first[0] + idle_seconds + 1)
    pinging_to = at(first[0] + idle_seconds + pings * interval)
    counted, mean_ms = _ping_requests(logs)
    exchanging = pinging_to[0] - pinging_from[0]
    return TsungRun(
        sessions=sessions,
        logins_per_second=ramp,
        login_seconds=login_seconds,
        cpu_login_s=logged_in[1] - first[1],
        cpu_exchanging_s=pinging_to[1] - pinging_from[1],
        exchanging_seconds=exchanging,
        pings=round(counted * exchanging / (pings * interval)) if counted else 0,
        rss_before_kib=first[2],
        rss_logged_in_kib=logged_in[2],
        rss_exchanging_kib=max(sample[2] for sample in samples if pinging_from[0] <= sample[0] <= pinging_to[0]),
        pings_per_second=counted / (pings * interval) if counted else 0.0,
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
