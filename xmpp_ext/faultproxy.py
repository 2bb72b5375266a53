"""A loopback TCP proxy that cuts and stalls connections on purpose, to rehearse failures.

Clients connect to the proxy instead of the server; every byte is forwarded
unchanged (TLS included: the proxy never sees inside), until a fault:

* a **cut** aborts both sides of a connection at once (the peers see a reset,
  as when a load balancer or a mobile link drops a stream);
* a **stall** holds both directions for some seconds with the connection
  open (as a congested link or a frozen server looks from outside).

Faults come from a plan (every N seconds or every N bytes of a connection)
or on demand (``cut_now``, ``stall_now``) from tests. The proxy only ever
listens on and connects to loopback addresses, holds at most
``MAX_CONNECTIONS`` connections and one read buffer per direction of each
(a stalled connection stops reading, so TCP back-pressure bounds the rest),
and a run via ``run_for`` is bounded in time. A side that shuts its write
half (a half-close) has that forwarded as such: the other direction goes on
until it ends too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

LISTEN_HOSTS = ("127.0.0.1", "::1")  # [0]: where a bare --listen PORT listens
#: Names accepted for loopback without asking DNS (which could answer anything).
LOOPBACK_NAMES = {"localhost": "127.0.0.1"}
MAX_CONNECTIONS = 64
CHUNK = 64 * 1024
CONNECT_TIMEOUT = 5.0
END_OF_STREAM = "end of stream"  # what a direction's pump returns when its source half-closed
DEFAULT_DURATION = 600.0
MAX_DURATION = 3600.0

_SIZE_UNITS = {"b": 1, "kb": 1024, "kib": 1024, "mb": 1024 * 1024, "mib": 1024 * 1024}
_TIME_UNITS = {"s": 1.0, "ms": 0.001}


class FaultProxyError(ValueError):
    """Bad proxy settings (an address that is not loopback, a malformed amount); one line saying which."""


@dataclass(frozen=True)
class FaultPlan:
    """When faults happen on each connection, counted from its start; all None: a plain proxy."""

    cut_every_seconds: float | None = None
    cut_every_bytes: int | None = None  # both directions together
    stall: float | None = None  # each fault is a stall of this many seconds instead of a cut

    def __post_init__(self) -> None:
        if self.cut_every_seconds is not None and self.cut_every_bytes is not None:
            raise FaultProxyError("cut every so many seconds or every so many bytes, not both")
        if self.stall is not None and self.cut_every_seconds is None and self.cut_every_bytes is None:
            raise FaultProxyError("--stall needs --cut-every: it replaces each cut with a stall of that length")

    def describe(self) -> str:
        if self.cut_every_seconds is not None:
            every = f"every {self.cut_every_seconds:g}s"
        elif self.cut_every_bytes is not None:
            every = f"every {self.cut_every_bytes} bytes"
        else:
            return "no planned faults"
        return f"a stall of {self.stall:g}s {every}" if self.stall is not None else f"a cut {every}"


@dataclass
class Counters:
    connections: int = 0  # accepted and connected through
    cuts: int = 0
    stalls: int = 0
    bytes_to_server: int = 0
    bytes_to_client: int = 0
    unreachable: int = 0  # connections closed because the target did not accept
    rejected: int = 0  # connections refused over MAX_CONNECTIONS

    def summary(self) -> str:
        text = (
            f"{self.connections} connection(s), {self.cuts} cut(s), {self.stalls} stall(s), "
            f"{self.bytes_to_server} bytes to the server, {self.bytes_to_client} bytes to the client"
        )
        if self.unreachable:
            text += f", {self.unreachable} not connected (target unreachable)"
        if self.rejected:
            text += f", {self.rejected} rejected (over {MAX_CONNECTIONS} at once)"
        return text


# -- parsing (shared by the command and library users) ------------------------


def loopback_host(host: str, listen: bool = False) -> str:
    """``host`` as an IP literal if it is loopback (any address of 127.0.0.0/8, or ::1), else FaultProxyError.

    ``listen``: the address is one to listen on (the error says so).
    """
    text = host.strip().removeprefix("[").removesuffix("]")
    text = LOOPBACK_NAMES.get(text.lower(), text)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise FaultProxyError(f"{host!r} is not a loopback IP address (127.0.0.0/8 or ::1)") from None
    if not address.is_loopback:
        if listen:
            raise FaultProxyError(f"refusing to listen on {host}: only on loopback addresses (127.0.0.0/8 or ::1)")
        raise FaultProxyError(f"refusing {host}: the fault proxy only connects to loopback addresses")
    return str(address)


def parse_port(text: str, allow_zero: bool = False) -> int:
    try:
        port = int(text)
    except ValueError:
        raise FaultProxyError(f"{text!r} is not a port number") from None
    if not (0 if allow_zero else 1) <= port <= 65535:
        raise FaultProxyError(f"port {port} is out of range")
    return port


def parse_endpoint(text: str, listen: bool = False) -> tuple[str, int]:
    """'HOST:PORT' or '[::1]:PORT' (``listen``: also a bare 'PORT' on 127.0.0.1, 0 for any free port)."""
    text = text.strip()
    if listen and text.isdigit():
        return LISTEN_HOSTS[0], parse_port(text, allow_zero=True)
    match = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]+):(\d+)", text)
    if not match:
        shape = "[HOST:]PORT" if listen else "HOST:PORT"
        raise FaultProxyError(f"{text!r} is not {shape} (IPv6: [::1]:PORT)")
    host, port = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
    return loopback_host(host, listen), parse_port(port, allow_zero=listen)


def parse_seconds(text: str, what: str = "a duration") -> float:
    """'2', '2s', '1.5s', '500ms' -> seconds (> 0)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|ms)?\s*", text.lower())
    if not match:
        raise FaultProxyError(f"{what} must look like 2s or 500ms, not {text!r}")
    seconds = float(match.group(1)) * _TIME_UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise FaultProxyError(f"{what} must be more than 0, not {text!r}")
    return seconds


def parse_cut_every(text: str) -> FaultPlan:
    """'2s' / '500ms' / '2' (seconds) or '64kb' (= '64kib') / '1mb' / '4096b' (bytes) -> a plan of cuts."""
    match = re.fullmatch(r"\s*(\d+)\s*(b|kb|kib|mb|mib)\s*", text.lower())
    if match:
        size = int(match.group(1)) * _SIZE_UNITS[match.group(2)]
        if size <= 0:
            raise FaultProxyError(f"--cut-every must be more than 0 bytes, not {text!r}")
        return FaultPlan(cut_every_bytes=size)
    try:
        return FaultPlan(cut_every_seconds=parse_seconds(text, "--cut-every"))
    except FaultProxyError:
        raise FaultProxyError(f"--cut-every must be SECONDS (2s, 500ms) or BYTES (64kb, 1mb), not {text!r}") from None


def parse_duration(text: str) -> float:
    """--for: seconds, at most MAX_DURATION (every run ends by itself)."""
    seconds = parse_seconds(text, "--for")
    if seconds > MAX_DURATION:
        raise FaultProxyError(f"--for is at most {MAX_DURATION:g}s (one hour), not {text!r}")
    return seconds


# -- the proxy ---------------------------------------------------------------


@dataclass(eq=False)
class _Link:
    """One client connection and its connection to the target."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    budget: int | None  # bytes until the next planned fault
    flowing: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)
    opened: float = 0.0  # event-loop time
    moved: int = 0  # bytes forwarded, both ways
    timer: asyncio.TimerHandle | None = None
    stalled_until: float = 0.0  # event-loop time
    last_stall: object = None  # the latest stall's token: only its end lets data flow again
    closed: bool = False


class FaultProxy:
    """``async with FaultProxy(("127.0.0.1", 5222), plan=...) as proxy:`` then connect to ``proxy.port``."""

    def __init__(
        self,
        target: tuple[str, int],
        listen: tuple[str, int] = (LISTEN_HOSTS[0], 0),
        plan: FaultPlan | None = None,
        on_fault: Callable[[str], None] | None = None,
    ) -> None:
        """``on_fault`` is called with one line describing each cut or stall as it happens."""
        self.on_fault = on_fault
        self.target = (loopback_host(target[0]), parse_port(str(target[1])))
        self.listen = (loopback_host(listen[0], listen=True), parse_port(str(listen[1]), allow_zero=True))
        self.plan = plan or FaultPlan()
        self.counters = Counters()
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task] = set()
        # wait_until's callers: each told once its condition on the counters holds.
        self._watchers: list[tuple[Callable[[Counters], bool], asyncio.Future[None]]] = []

    # -- lifetime --------------------------------------------------------------

    async def start(self) -> FaultProxy:
        """Listen (OSError if the port cannot be bound)."""
        self._server = await asyncio.start_server(self._accept, self.listen[0], self.listen[1], reuse_address=True)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the proxy first"
        return self._server.sockets[0].getsockname()[1]

    @property
    def host(self) -> str:
        return self.listen[0]

    async def stop(self) -> None:
        """Stop listening and close every connection (not counted as cuts)."""
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            self._close(link)
        # Not cancelled: asyncio (3.11) logs a cancelled connection handler as an error. With their
        # links closed they end at once; one still connecting to the target ends within its time-out.
        if self._handlers:
            _done, late = await asyncio.wait(self._handlers, timeout=CONNECT_TIMEOUT + 1)
            for task in late:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def run_for(self, seconds: float, stop: asyncio.Event | None = None) -> Counters:
        """Serve for ``seconds`` at most (or until ``stop`` is set), then stop; returns the counters."""
        if self._server is None:
            await self.start()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):  # not wait_for: it can swallow a cancellation (3.11)
                    await (stop or asyncio.Event()).wait()
        finally:
            await self.stop()
        return self.counters

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- faults on demand -------------------------------------------------------

    @property
    def open_connections(self) -> int:
        return len(self._links)

    def cut_now(self) -> int:
        """Cut every open connection; returns how many."""
        links = list(self._links)
        for link in links:
            self._cut(link)
        return len(links)

    def stall_now(self, seconds: float) -> int:
        """Hold every open connection for ``seconds``; returns how many."""
        links = list(self._links)
        for link in links:
            self._stall(link, seconds)
        return len(links)

    async def wait_until(self, predicate: Callable[[Counters], bool], timeout: float) -> Counters:
        """Until ``predicate(counters)`` holds, e.g. ``lambda c: c.stalls >= 1``; TimeoutError after ``timeout``."""
        watcher = (predicate, asyncio.get_running_loop().create_future())
        if predicate(self.counters):
            return self.counters
        self._watchers.append(watcher)
        try:
            async with asyncio.timeout(timeout):
                await watcher[1]
        finally:
            self._watchers.remove(watcher)
        return self.counters

    def _count(self, what: str) -> None:
        setattr(self.counters, what, getattr(self.counters, what) + 1)
        self._notify()

    def _notify(self) -> None:
        for predicate, future in self._watchers:
            if not future.done() and predicate(self.counters):
                future.set_result(None)

    # -- connections ------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._handlers.discard(task)

    async def _serve(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        if len(self._links) >= MAX_CONNECTIONS:
            self.counters.rejected += 1
            client.transport.abort()
            return
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                server_reader, server = await asyncio.open_connection(*self.target)
        except (OSError, TimeoutError) as exc:
            self.counters.unreachable += 1
            log.warning("cannot reach %s:%d: %s", *self.target, exc)
            client.transport.abort()
            return
        link = _Link(client, server, self.plan.cut_every_bytes, opened=asyncio.get_running_loop().time())
        link.flowing.set()
        self._links.add(link)
        self._count("connections")
        if self.plan.cut_every_seconds is not None:
            link.timer = asyncio.get_running_loop().call_later(self.plan.cut_every_seconds, self._planned_fault, link)
        link.tasks = [
            asyncio.ensure_future(self._pump(link, client_reader, server, to_server=True)),
            asyncio.ensure_future(self._pump(link, server_reader, client, to_server=False)),
        ]
        try:
            # Until both directions have ended; a failure of either (reset, cut) ends the other at once.
            pending = set(link.tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if any(task.cancelled() or task.result() is not END_OF_STREAM for task in done):
                    break
        finally:
            self._close(link)

    async def _pump(
        self, link: _Link, source: asyncio.StreamReader, sink: asyncio.StreamWriter, to_server: bool
    ) -> object:
        """Forward ``source`` to ``sink``; END_OF_STREAM when the source finished sending, else None."""
        while not link.closed:
            try:
                data = await source.read(CHUNK)
            except OSError:
                return
            if not data:
                # This side is done sending: pass that on as a half-close, the other direction may go on
                # (a client shutting its write side still gets the server's reply).
                with contextlib.suppress(OSError, RuntimeError):
                    if sink.can_write_eof():
                        sink.write_eof()
                return END_OF_STREAM
            while data and not link.closed:
                await link.flowing.wait()  # a stall: hold this chunk, read no more
                if link.closed:
                    return
                size = len(data) if link.budget is None else min(len(data), link.budget)
                sink.write(data[:size])
                data = data[size:]
                link.moved += size
                if to_server:
                    self.counters.bytes_to_server += size
                else:
                    self.counters.bytes_to_client += size
                if self._watchers:  # someone waits for a byte count (wait_until)
                    self._notify()
                if link.budget is not None:
                    link.budget -= size
                    if link.budget == 0:
                        self._planned_fault(link)
                try:
                    await sink.drain()
                except OSError:
                    return

    def _planned_fault(self, link: _Link) -> None:
        if link.closed:
            return
        if self.plan.stall is None:
            self._cut(link)
            return
        self._stall(link, self.plan.stall)
        if self.plan.cut_every_bytes is not None:
            link.budget = self.plan.cut_every_bytes
        if self.plan.cut_every_seconds is not None:  # the next one a period after this stall ends
            link.timer = asyncio.get_running_loop().call_later(
                self.plan.stall + self.plan.cut_every_seconds, self._planned_fault, link
            )

    def _stall(self, link: _Link, seconds: float) -> None:
        if link.closed:
            return
        self._count("stalls")
        self._tell(link, f"stalled for {seconds:g}s")
        loop = asyncio.get_running_loop()
        # Overlapping stalls: the connection flows again when the one ending last ends.
        if loop.time() + seconds <= link.stalled_until:
            return
        link.stalled_until = loop.time() + seconds
        link.last_stall = token = object()
        link.flowing.clear()
        loop.call_at(link.stalled_until, self._end_stall, link, token)

    @staticmethod
    def _end_stall(link: _Link, token: object) -> None:
        if link.last_stall is token:
            link.flowing.set()

    def _cut(self, link: _Link) -> None:
        if link.closed:
            return
        self._count("cuts")
        self._tell(link, "cut")
        self._close(link)

    def _tell(self, link: _Link, what: str) -> None:
        if self.on_fault is None:
            return
        age = asyncio.get_running_loop().time() - link.opened
        peer = link.client.get_extra_info("peername") or ("?", 0)
        self.on_fault(f"{what}: connection from port {peer[1]}, {age:.1f}s old, {link.moved} bytes forwarded")

    def _close(self, link: _Link) -> None:
        if link.closed:
            return
        link.closed = True
        self._links.discard(link)
        if link.timer is not None:
            link.timer.cancel()
        link.flowing.set()  # wake a stalled pump so it sees the link closed
        for writer in (link.client, link.server):
            writer.transport.abort()  # at once, unsent data dropped: what a broken link does
        for task in link.tasks:
            if task is not asyncio.current_task():
                task.cancel()


# -- in a thread, for tests that drive child processes ------------------------


class ProxyThread:
    """A FaultProxy on its own event loop in a background thread; faults on demand from any thread.

    ``with ProxyThread(target, plan=...) as proxy: ... proxy.port ... proxy.cut_now()``
    """

    def __init__(self, target: tuple[str, int], plan: FaultPlan | None = None, timeout: float = MAX_DURATION) -> None:
        self.proxy = FaultProxy(target, plan=plan)
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                await self.proxy.start()
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._timeout):
                        await self._stop.wait()
            finally:
                await self.proxy.stop()

        asyncio.run(main())

    def _call(self, function, *args):
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(_call_async(function, *args), self._loop).result(CONNECT_TIMEOUT)

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def counters(self) -> Counters:
        return self._call(lambda: Counters(**vars(self.proxy.counters)))

    def cut_now(self) -> int:
        return self._call(self.proxy.cut_now)

    def stall_now(self, seconds: float) -> int:
        return self._call(self.proxy.stall_now, seconds)

    def wait_until(self, predicate: Callable[[Counters], bool], timeout: float) -> Counters:
        """FaultProxy.wait_until, from the caller's thread (TimeoutError after ``timeout``)."""
        assert self._loop is not None
        waiting = asyncio.run_coroutine_threadsafe(self.proxy.wait_until(predicate, timeout), self._loop)
        try:
            waiting.result(timeout + 1)
        except concurrent.futures.TimeoutError:
            waiting.cancel()
            raise TimeoutError(f"the proxy's counters did not get there within {timeout:g}s") from None
        return self.counters

    def __enter__(self) -> ProxyThread:
        self._thread.start()
        if not self._ready.wait(CONNECT_TIMEOUT):
            raise RuntimeError("the fault proxy did not start")
        if self._error is not None:
            self._thread.join(CONNECT_TIMEOUT)
            raise self._error
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(CONNECT_TIMEOUT * 2)


async def _call_async(function, *args):
    return function(*args)
