"""Secrets out of anything printed or served: passwords in URLs (``rtsp://admin:pw@cam/``,
``http://cam/video.cgi?user=admin&pwd=pw``) are replaced by ``***``; and a check for secret
files that anyone on the machine can read."""

from __future__ import annotations

import re
import stat
from pathlib import Path

HIDDEN = "***"
# scheme://user:password@ -> scheme://user:***@ (the password may itself hold '@' or ':')
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/?#@\s:]*):[^/?#\s]*@")
# query parameters that cameras and services use for credentials
_QUERY = re.compile(r"(?i)([?&;](?:password|passwd|pwd|pass|token|access_token|auth|"
                    r"key|apikey|api_key|secret|sig|signature)=)[^&;#\s]*")


def redact(text: str) -> str:
    """``text`` with the passwords of any URLs in it replaced by ``***``."""
    if "://" not in text and "=" not in text:
        return text
    return _QUERY.sub(rf"\g<1>{HIDDEN}", _USERINFO.sub(rf"\g<1>:{HIDDEN}@", text))


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
