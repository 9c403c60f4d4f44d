"""Who may use the web page and /metrics: HTTP basic auth (one user, a password read from a
file or the environment, never from a flag) and a bearer token for Prometheus.

Only keyed digests are kept in memory, never the password or the token; a request's
credentials are digested the same way and compared in constant time (``hmac.compare_digest``),
the user name and the password both, always, so a wrong user answers as fast as a wrong
password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import os
import socket
from pathlib import Path

from edge.errors import EdgeError
from edge.fileio import read_bounded

PASSWORD_ENV = "EDGE_HTTP_PASSWORD"
TOKEN_ENV = "EDGE_METRICS_TOKEN"
MIN_SECRET = 8  # characters of a web password or metrics token


def read_secret(flag: str, path: Path | None, env: str, environ=None) -> str | None:
    """The secret in ``path`` (its first line), else in ``$env``, else None. The value is
    never part of an error message."""
    environ = os.environ if environ is None else environ
    if path is not None:
        try:
            text = read_bounded(path, "secret", flag).decode("utf-8")
        except UnicodeDecodeError:
            raise EdgeError(f"{flag} {path}: not UTF-8 text") from None
        secret = text.split("\n", 1)[0].rstrip("\r")
        if not secret:
            raise EdgeError(f"{flag} {path}: the file is empty")
        where = f"{flag} {path}"
    else:
        secret = environ.get(env) or None
        where = f"${env}"
    if secret is not None and len(secret.strip()) < MIN_SECRET:
        raise EdgeError(f"{where}: a password or token needs at least {MIN_SECRET} characters "
                        "that are not all spaces (brute force is cheap against shorter ones)")
    return secret


def is_loopback(host: str) -> bool:
    """True when ``host`` (an address or a name) reaches only this machine."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if host == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback
                               for i in infos)


class Credentials:
    """Basic-auth user and password and/or a bearer token, as keyed digests."""

    def __init__(self, user: str | None = None, password: str | None = None,
                 token: str | None = None) -> None:
        if password is not None and (not user or ":" in user):
            raise EdgeError(f"--http-user {user!r}: a user name without ':' is needed")
        self._key = os.urandom(32)
        self._user = self._digest(user) if password is not None else None
        self._password = self._digest(password) if password is not None else None
        self._token = self._digest(token) if token else None
        self.user = user if password is not None else None

    def _digest(self, value: str | bytes) -> bytes:
        data = value.encode("utf-8") if isinstance(value, str) else value
        return hmac.new(self._key, data, hashlib.sha256).digest()

    @property
    def basic(self) -> bool:
        return self._password is not None

    @property
    def bearer(self) -> bool:
        return self._token is not None

    @property
    def any(self) -> bool:
        return self.basic or self.bearer

    def allows(self, authorization: str | None, bearer_ok: bool = False) -> bool:
        """True when the ``Authorization`` header value carries valid credentials (the
        bearer token only counts where ``bearer_ok``)."""
        if not authorization:
            return False
        scheme, _, value = authorization.strip().partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "basic" and self._password is not None:
            try:
                user, sep, password = base64.b64decode(value, validate=True).partition(b":")
            except (binascii.Error, ValueError):
                return False
            same_user = hmac.compare_digest(self._digest(user), self._user)
            same_password = hmac.compare_digest(self._digest(password), self._password)
            return bool(sep) and same_user & same_password
        if scheme == "bearer" and bearer_ok and self._token is not None:
            return hmac.compare_digest(self._digest(value), self._token)
        return False

    def challenge(self, bearer_ok: bool = False) -> str:
        """The ``WWW-Authenticate`` header of a 401."""
        if self.basic:
            return 'Basic realm="edge", charset="UTF-8"'
        return 'Bearer realm="edge"' if bearer_ok and self.bearer else 'Basic realm="edge"'


class Backoff:
    """Failed logins per client address: the first ``free`` are answered at once; after that
    the address is locked out for 1 s, then 2, 4, ... up to ``longest`` s, each further failure
    doubling it, and every request it sends while locked out is answered 429 without looking
    at its credentials. A success clears the address; an address quiet for ``forget`` s is
    forgotten; at most ``size`` addresses are kept (the quietest go first)."""

    def __init__(self, free: int = 5, longest: float = 60.0, forget: float = 600.0,
                 size: int = 4096) -> None:
        self.free, self.longest, self.forget, self.size = free, longest, forget, size
        self._seen: dict[str, tuple[int, float, float]] = {}  # failures, locked until, last

    def locked(self, peer: str, now: float) -> float:
        """Seconds ``peer`` is still locked out for (0: not locked)."""
        failures, until, last = self._seen.get(peer, (0, 0.0, 0.0))
        if failures and now - last > self.forget:
            del self._seen[peer]
            return 0.0
        return max(until - now, 0.0)

    def failed(self, peer: str, now: float) -> None:
        failures = self._seen.get(peer, (0, 0.0, 0.0))[0] + 1
        over = failures - self.free
        until = now + min(2.0 ** (over - 1), self.longest) if over > 0 else 0.0
        if peer not in self._seen and len(self._seen) >= self.size:
            del self._seen[min(self._seen, key=lambda p: self._seen[p][2])]
        self._seen[peer] = (failures, until, now)

    def succeeded(self, peer: str) -> None:
        self._seen.pop(peer, None)


def foreign_host(request, names: set[str]):
    """Without a password: a 421 for a Host this machine does not go by (DNS rebinding: a web
    page elsewhere must not read a loopback-only camera through the browser), else None."""
    from edge.web.host import host_name, is_ip
    from edge.web.wire import text

    host = host_name(request.headers.get("host", ""))
    if host and host not in names and not is_ip(host):
        return text(421, f"unexpected Host {host!r}: address this device by its IP address or "
                         "host name")
    return None


def authorize(credentials: Credentials, backoff: Backoff, request, bearer_ok: bool):
    """None when the request carries valid credentials; else the answer: 401 with the
    challenge, or 429 while its address is locked out after too many failures."""
    import math
    import time

    from edge.web.wire import text

    now = time.monotonic()
    if (wait := backoff.locked(request.peer, now)) > 0:
        return text(429, "too many failed logins from this address: try again later",
                    **{"Retry-After": str(math.ceil(wait))})
    if credentials.allows(request.headers.get("authorization"), bearer_ok):
        backoff.succeeded(request.peer)
        return None
    backoff.failed(request.peer, now)
    return text(401, "authentication required",
                **{"WWW-Authenticate": credentials.challenge(bearer_ok)})
