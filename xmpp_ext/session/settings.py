"""Where and how to log in: one account's connection settings, and the TLS policy every client follows."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from slixmpp import JID

from xmpp_ext.util.secret import Secret

STARTTLS_PORT = 5222  # RFC 6120's client port
DIRECT_TLS_PORT = 5223  # the usual direct TLS port (XEP-0368 finds others through SRV)


@dataclass(frozen=True)
class ConnectionSettings:
    jid: JID
    password: Secret = field(repr=False)
    host: str | None = None  # None: the JID's domain, through its DNS SRV records
    port: int | None = None
    ca_cert: Path | None = None  # trust exactly this CA/certificate
    insecure: bool = False  # skip certificate verification (warned about by the CLI)
    connect_timeout: float = 10.0
    direct_tls: bool = False  # XEP-0368: TLS from the first byte (a dedicated port), never STARTTLS
    password_source: str = "the password"  # e.g. "XMPPEXT_PASSWORD", named in a failed login's next step

    def __post_init__(self) -> None:
        if not isinstance(self.jid, JID):
            object.__setattr__(self, "jid", JID(self.jid))

    def endpoint(self) -> tuple[str, int] | None:
        """Where to connect, or None to look the JID's domain up in DNS SRV records.

        slixmpp uses a host only together with a port (and a port only with a
        host), so either one given alone is completed here: a host alone means
        its port 5222, a port alone the JID's domain on that port.
        """
        if self.host is None and self.port is None:
            return None
        return self.host or self.jid.domain, self.port or (DIRECT_TLS_PORT if self.direct_tls else STARTTLS_PORT)

    @property
    def address(self) -> str:
        endpoint = self.endpoint()
        return f"{endpoint[0]}:{endpoint[1]}" if endpoint else f"{self.jid.domain} (DNS SRV)"


def ssl_context(settings: ConnectionSettings) -> ssl.SSLContext | None:
    """A context trusting exactly ``ca_cert``, or none checking nothing (--insecure); None: the system's CAs.

    Building our own also spares loading the whole system CA store when it
    would not be used (a noticeable part of a one-shot send's start-up).
    """
    if settings.insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if settings.ca_cert is not None:
        return ssl.create_default_context(cafile=str(settings.ca_cert))
    return None
