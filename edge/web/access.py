"""Who may reach --http and --metrics, how, and within what limits (:class:`WebConfig`, built
once from edge-run's settings). Checked without opening a port, so --check-config can use it.

Loopback addresses need nothing. Any other address needs credentials: a password (basic
auth) for the page; a password or a bearer token for the metrics listener; or an explicit
--http-insecure, which is repeated as a warning at every start.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from edge.errors import EdgeError
from edge.web.auth import PASSWORD_ENV, TOKEN_ENV, Credentials, is_loopback, read_secret
from edge.web.host import connection_cap, tls_context
from edge.web.live import parse_bind
from edge.web.server import Limits

METRICS_MAX_CONNECTIONS = 16


@dataclass(frozen=True)
class WebConfig:
    """The web listeners' settings (edge-run's ``--http*`` and ``--metrics*`` flags)."""

    http: str | None = None  # [HOST:]PORT of the page
    metrics: str | None = None  # [HOST:]PORT of /metrics alone
    user: str = "edge"
    password_file: Path | None = None
    token_file: Path | None = None
    insecure: bool = False
    cert: Path | None = None
    key: Path | None = None
    max_viewers: int = 5
    max_connections: int = 64
    timeout_s: float = 10.0

    @property
    def enabled(self) -> bool:
        return self.http is not None or self.metrics is not None


@dataclass
class Access:
    credentials: Credentials
    tls: ssl.SSLContext | None
    timeout_s: float


def access(cfg: WebConfig) -> Access:
    """Credentials and TLS from the settings; EdgeError when a file does not load."""
    password = read_secret("--http-password-file", cfg.password_file, PASSWORD_ENV)
    token = read_secret("--metrics-token-file", cfg.token_file, TOKEN_ENV)
    credentials = Credentials(cfg.user, password, token)
    if (cfg.cert is None) != (cfg.key is None):
        raise EdgeError("--http-cert and --http-key go together (the certificate and its key)")
    tls = tls_context(cfg.cert, cfg.key) if cfg.cert is not None else None
    return Access(credentials, tls, cfg.timeout_s)


def check_exposure(cfg: WebConfig, creds: Credentials) -> list[str]:
    """Refuse a listener beyond loopback without credentials (unless --http-insecure); the
    warnings to print at every start otherwise."""
    warnings = []
    for flag, value, protected in (("--http", cfg.http, creds.basic),
                                   ("--metrics", cfg.metrics, creds.any)):
        if value is None:
            continue
        host, _ = parse_bind(value, flag)
        if protected or is_loopback(host):
            continue
        what = "the camera page and stream" if flag == "--http" else "the metrics"
        if not cfg.insecure:
            need = "--http-password-file (or $EDGE_HTTP_PASSWORD)" if flag == "--http" else \
                "--metrics-token-file (or $EDGE_METRICS_TOKEN) or --http-password-file"
            raise EdgeError(f"{flag} {value}: beyond loopback {what} need credentials: set "
                            f"{need}, or serve on 127.0.0.1 behind a reverse proxy, or accept "
                            "the risk with --http-insecure")
        warnings.append(f"WARNING: {flag} {value} serves {what} WITHOUT authentication to "
                        "anyone who can reach this address (--http-insecure)")
    return warnings


def validate(cfg: WebConfig) -> list[str]:
    """All checks of the web settings, no port opened; the start-up warnings."""
    for flag, value in (("--http", cfg.http), ("--metrics", cfg.metrics)):
        if value is not None:
            parse_bind(value, flag)
    if cfg.http is None and cfg.metrics is None:
        return []
    return check_exposure(cfg, access(cfg).credentials)


def limits(cfg: WebConfig, listener: str) -> tuple[Limits, str | None]:
    """The limits of one listener, the connection cap fitted to the open-file limit, and a
    note when it had to be lowered."""
    listeners = (cfg.http is not None) + (cfg.metrics is not None)
    wanted = cfg.max_connections if listener == "--http" else METRICS_MAX_CONNECTIONS
    cap, soft = connection_cap(wanted, listeners)
    if cap < 2:
        raise EdgeError(f"{listener}: the open-file limit ({soft}) leaves no room for "
                        "connections; raise it (ulimit -n, or LimitNOFILE= in the unit)")
    note = None
    if cap < wanted:
        note = f"{listener}: at most {cap} connections (not {wanted}): the open-file limit " \
               f"is {soft}"
    streams = cfg.max_viewers if listener == "--http" else 0
    return Limits(cap, min(streams, cap - 1) if streams else 0, cfg.timeout_s), note
