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

PASSWORD_ENV = "EDGE_HTTP_PASSWORD"
TOKEN_ENV = "EDGE_METRICS_TOKEN"


def read_secret(flag: str, path: Path | None, env: str, environ=None) -> str | None:
    """The secret in ``path`` (its first line), else in ``$env``, else None. The value is
    never part of an error message."""
    environ = os.environ if environ is None else environ
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise EdgeError(f"{flag} {path}: cannot read it "
                            f"({getattr(exc, 'strerror', None) or exc})") from None
        secret = text.split("\n", 1)[0].rstrip("\r")
        if not secret:
            raise EdgeError(f"{flag} {path}: the file is empty")
        return secret
    return environ.get(env) or None


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
