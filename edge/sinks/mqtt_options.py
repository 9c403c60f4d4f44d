"""Where and how edge-run talks MQTT: the broker URL, its password and the sink's options.
Parsed and checked without touching the network, so --check-config can use it."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from edge.errors import EdgeError
from edge.fileio import read_bounded
from edge.redact import redact
from edge.sinks.ha import Topics

PASSWORD_ENV = "EDGE_MQTT_PASSWORD"


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The URL without the password (safe to print)."""
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}"


def parse_broker(url: str, password_file: Path | None = None,
                 environ: dict | None = None) -> Broker:
    """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...`` (ports 1883 and 8883 by
    default). The password comes from ``password_file``, else ``$EDGE_MQTT_PASSWORD``, else
    the URL; it never appears in an error message."""
    environ = os.environ if environ is None else environ
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    shown = redact(url)  # also when the URL does not even parse
    if (parts is None or parts.scheme not in ("mqtt", "mqtts") or not parts.hostname
            or parts.path not in ("", "/") or parts.query or parts.fragment):
        raise EdgeError(f"--mqtt {shown}: expected mqtt://[user@]host[:port] or "
                        "mqtts://[user@]host[:port]")
    tls = parts.scheme == "mqtts"
    password = unquote(parts.password) if parts.password is not None else None
    if password_file is not None:
        data = read_bounded(password_file, "secret", "--mqtt-password-file")
        try:
            password = data.decode("utf-8").split("\n", 1)[0].rstrip("\r")
        except UnicodeDecodeError:
            raise EdgeError(f"--mqtt-password-file {password_file}: not UTF-8 text") from None
    elif environ.get(PASSWORD_ENV):
        password = environ[PASSWORD_ENV]
    username = unquote(parts.username) if parts.username else None
    if password and not username:
        raise EdgeError(f"--mqtt {shown}: a password needs a user name "
                        "(mqtt://user@host)")
    return Broker(parts.hostname, port or (8883 if tls else 1883), tls, username, password)


def _check_topic_part(flag: str, value: str, slash: bool) -> None:
    bad = "+#" if slash else "+#/"
    if (not value or any(c in value for c in bad) or "\0" in value
            or value.startswith("/") or value.endswith("/")):
        raise EdgeError(f"{flag} {value!r}: not a usable MQTT topic level (empty, or holds "
                        f"{' '.join(bad)})")


@dataclass(frozen=True)
class MqttOptions:
    broker: Broker
    prefix: str = "edge"
    node: str = field(default_factory=socket.gethostname)
    rate: float = 1.0  # state messages per second, at most
    stats_interval: float = 60.0
    snapshot: bool = False
    ca_file: Path | None = None
    discovery_prefix: str | None = "homeassistant"  # None: no Home Assistant discovery
    hold_s: float = 1.0  # a new top-1 label must lead this long before it is an event
    keepalive: int = 30  # a silent node is declared offline after 1.5x this
    model: str | None = None  # shown in Home Assistant's device page
    triggers: tuple[str, ...] = ()  # --trigger labels, as the model names them

    def __post_init__(self) -> None:
        _check_topic_part("--mqtt-prefix", self.prefix, slash=True)
        _check_topic_part("--mqtt-node", self.node, slash=False)
        if self.discovery_prefix is not None:
            _check_topic_part("--mqtt-ha-prefix", self.discovery_prefix, slash=True)
        for flag, value in (("--mqtt-rate", self.rate),
                            ("--mqtt-stats-interval", self.stats_interval)):
            if not value > 0:
                raise EdgeError(f"{flag} must be > 0")
        if not self.hold_s >= 0:
            raise EdgeError("--mqtt-hold must be >= 0")
        if self.ca_file is not None and not Path(self.ca_file).is_file():
            raise EdgeError(f"--mqtt-ca {self.ca_file}: no such file")

    @property
    def topics(self) -> Topics:
        return Topics(self.prefix, self.node, self.triggers)
