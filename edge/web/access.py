"""Who may reach --http and --metrics, how, and within what limits, from edge-run's settings.
Checked without opening a port, so --check-config can use it.

Loopback addresses need nothing. Any other address needs credentials: a password (basic
auth) for the page; a password or a bearer token for the metrics listener; or an explicit
--http-insecure, which is repeated as a warning at every start.
"""

from __future__ import annotations

import argparse
import ssl
from dataclasses import dataclass

from edge.errors import EdgeError
from edge.sinks.auth import PASSWORD_ENV, TOKEN_ENV, Credentials, is_loopback, read_secret
from edge.sinks.http import parse_bind
from edge.sinks.webhost import connection_cap, tls_context
from edge.sinks.webserver import Limits

METRICS_MAX_CONNECTIONS = 16


@dataclass
class Access:
    credentials: Credentials
    tls: ssl.SSLContext | None
    timeout_s: float


def access(args: argparse.Namespace) -> Access:
    """Credentials and TLS from the settings; EdgeError when a file does not load."""
    password = read_secret("--http-password-file", args.http_password_file, PASSWORD_ENV)
    token = read_secret("--metrics-token-file", args.metrics_token_file, TOKEN_ENV)
    credentials = Credentials(args.http_user, password, token)
    if (args.http_cert is None) != (args.http_key is None):
        raise EdgeError("--http-cert and --http-key go together (the certificate and its key)")
    tls = tls_context(args.http_cert, args.http_key) if args.http_cert is not None else None
    return Access(credentials, tls, args.http_timeout)


def check_exposure(args: argparse.Namespace, creds: Credentials) -> list[str]:
    """Refuse a listener beyond loopback without credentials (unless --http-insecure); the
    warnings to print at every start otherwise."""
    warnings = []
    for flag, value, protected in (("--http", args.http, creds.basic),
                                   ("--metrics", args.metrics, creds.any)):
        if value is None:
            continue
        host, _ = parse_bind(value, flag)
        if protected or is_loopback(host):
            continue
        what = "the camera page and stream" if flag == "--http" else "the metrics"
        if not args.http_insecure:
            need = "--http-password-file (or $EDGE_HTTP_PASSWORD)" if flag == "--http" else \
                "--metrics-token-file (or $EDGE_METRICS_TOKEN) or --http-password-file"
            raise EdgeError(f"{flag} {value}: beyond loopback {what} need credentials: set "
                            f"{need}, or serve on 127.0.0.1 behind a reverse proxy, or accept "
                            "the risk with --http-insecure")
        warnings.append(f"WARNING: {flag} {value} serves {what} WITHOUT authentication to "
                        "anyone who can reach this address (--http-insecure)")
    return warnings


def validate(args: argparse.Namespace) -> list[str]:
    """All checks of the web settings, no port opened; the start-up warnings."""
    for flag, value in (("--http", args.http), ("--metrics", args.metrics)):
        if value is not None:
            parse_bind(value, flag)
    if args.http is None and args.metrics is None:
        return []
    return check_exposure(args, access(args).credentials)


def limits(args: argparse.Namespace, listener: str) -> tuple[Limits, str | None]:
    """The limits of one listener, the connection cap fitted to the open-file limit, and a
    note when it had to be lowered."""
    listeners = (args.http is not None) + (args.metrics is not None)
    wanted = args.http_max_connections if listener == "--http" else METRICS_MAX_CONNECTIONS
    cap, soft = connection_cap(wanted, listeners)
    if cap < 2:
        raise EdgeError(f"{listener}: the open-file limit ({soft}) leaves no room for "
                        "connections; raise it (ulimit -n, or LimitNOFILE= in the unit)")
    note = None
    if cap < wanted:
        note = f"{listener}: at most {cap} connections (not {wanted}): the open-file limit " \
               f"is {soft}"
    streams = args.http_max_viewers if listener == "--http" else 0
    return Limits(cap, min(streams, cap - 1) if streams else 0, args.http_timeout), note


def web_sinks(args: argparse.Namespace) -> tuple[list, list[str]]:
    """The --http and --metrics sinks, listening (a busy port fails here), and their notes:
    where they serve, and the warnings of an unprotected listener."""
    from edge.sinks.http import HttpSink
    from edge.sinks.prometheus import MetricsSink

    web = access(args)
    notes = check_exposure(args, web.credentials)
    sinks = []
    for flag, value, kind in (("--http", args.http, HttpSink),
                              ("--metrics", args.metrics, MetricsSink)):
        if value is None:
            continue
        bounds, note = limits(args, flag)
        sink = kind(*parse_bind(value, flag), bounds, web.credentials, web.tls)
        sinks.append(sink)
        what = "web page" if flag == "--http" else "metrics"
        guard = " (password required)" if web.credentials.basic else \
            " (bearer token required)" if web.credentials.bearer and flag == "--metrics" else ""
        notes.append(f"{what} on {sink.url}{guard}")
        notes += [note] if note else []
    return sinks, notes
