"""Secrets out of anything printed or served: the userinfo of URLs (``rtsp://admin:pw@cam/``)
and secret-named query values (``http://cam/video.cgi?user=admin&pwd=pw``) are replaced by
``***``; and a check for secret files that anyone on the machine can read."""

from __future__ import annotations

import re
import stat
from pathlib import Path

HIDDEN = "***"
# scheme://userinfo@ -> scheme://***@ (user names can be secrets too: camera tokens; a password
# may itself hold '@', ':' or spaces, so the userinfo runs to the last '@' before the path)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\n\"']*@")
# query parameters whose name says secret: pass (and loginpas, passcode), pwd/psw, token, key,
# secret, auth, sig(nature), cred(entials)
_SECRET_NAME = r"[\w.\-]*(?:pas|pwd|psw|token|key|secret|auth|sig|cred)[\w.\-]*"
_QUERY = re.compile(rf"(?i)([?&;]{_SECRET_NAME}=)[^&;#\s\"']*")


def redact_url(url: str) -> str:
    """A URL with its userinfo and every secret-named query value replaced by ``***``,
    exactly (the whole string is the URL: values with spaces included)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    if not parts.scheme or not parts.netloc:
        return redact(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = HIDDEN + "@" + netloc.rpartition("@")[2]
    query = "&".join(f"{k}={HIDDEN}" if re.fullmatch(_SECRET_NAME, k, re.I) else
                     (f"{k}={v}" if sep else k)
                     for k, sep, v in (item.partition("=") for item in parts.query.split("&")))
    return urlunsplit((parts.scheme, netloc, parts.path, query if parts.query else "",
                       parts.fragment))


def redact(text: str) -> str:
    """``text`` with the secrets of any URLs in it replaced by ``***``: their userinfo and the
    values of query parameters whose names say secret (best effort in free text; see
    :func:`redact_url` for a string that is one URL)."""
    if "://" not in text and "=" not in text:
        return text
    return _QUERY.sub(rf"\g<1>{HIDDEN}", _USERINFO.sub(rf"\g<1>{HIDDEN}@", text))


def holds_secret(text: str) -> bool:
    """True when ``text`` holds something :func:`redact` would hide."""
    return redact(text) != text


def world_readable(path: Path) -> bool:
    """True when ``path`` exists and every user of the machine may read it."""
    try:
        return bool(Path(path).stat().st_mode & stat.S_IROTH)
    except OSError:
        return False


def exposed_secrets(secret_files: dict[str, Path | None], config_path: Path | None) -> list[str]:
    """One warning per secret that other users of this machine can read: the config file
    when it holds a password (in a URL), and the ``secret_files`` (flag -> path: password,
    token and key files)."""
    warnings = []
    text = None
    if config_path is not None:
        try:
            text = Path(config_path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
    if text is not None and holds_secret(text) and world_readable(config_path):
        warnings.append(f"{config_path} holds a password and is readable by every user: "
                        f"chmod 640 {config_path}")
    for flag, path in secret_files.items():
        if path is not None and world_readable(path):
            warnings.append(f"{flag} {path} is readable by every user: chmod 600 {path}")
    return warnings
