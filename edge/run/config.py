"""edge-run's TOML configuration: the same settings as its command line (edge/settings.py),
one key per flag (``--fps-cap`` is ``fps_cap``). Strict: an unknown key, a wrong type or a
value out of bounds is an error that names the file, the line, the key and what was expected.
Flags override the file.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

from edge.errors import EdgeError
from edge.fileio import read_bounded
from edge.run.settings import BY_NAME, DEFAULT_CONFIG, SETTINGS, SOURCES
from edge.settings import given_on_command_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_PATH = DEFAULT_CONFIG


def chosen_sources(values: dict) -> list[str]:
    """Which source keys are set (``picamera = 0`` counts: 0 is a camera index)."""
    return [s for s in SOURCES if values.get(s) is not None and values.get(s) is not False]


class ConfigError(EdgeError):
    exit_code = 2


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*({re.escape(key)}\s*=|\[\s*{re.escape(key)}\s*\])", line):
            return number
    return None


def load(path: Path) -> dict:
    """Validated settings from a TOML file, keyed by setting name."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = read_bounded(path, "config", "").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from exc
    except EdgeError as exc:
        raise ConfigError(str(exc)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    values = {}
    for key, value in data.items():
        line = _line_of(text, key)
        where = f"{path}:{line}: {key}" if line else f"{path}: {key}"
        if isinstance(value, dict):
            raise ConfigError(f"{where}: tables are not used; write the keys at the top level")
        if key not in BY_NAME or not BY_NAME[key].in_file:
            close = difflib.get_close_matches(key, BY_NAME, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{where}: unknown key{hint}")
        try:
            values[key] = BY_NAME[key].from_toml(value, where)
        except EdgeError as exc:
            raise ConfigError(str(exc)) from None
    chosen = chosen_sources(values)
    if len(chosen) > 1:
        raise ConfigError(f"{path}: choose one source, not {' and '.join(chosen)}")
    return values


def parse_with_config(parser: argparse.ArgumentParser, argv: list[str] | None):
    """Parse ``argv`` over the config file's values; returns (args, config path or None)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config", type=Path)
    pre.add_argument("--no-config", action="store_true")
    early, _ = pre.parse_known_args(argv)
    path = early.config
    if path is None and not early.no_config and DEFAULT_PATH.is_file():
        path = DEFAULT_PATH
    if path is not None:
        values = load(path)
        # a source flag replaces the file's
        if given_on_command_line(argv, SETTINGS) & set(SOURCES):
            for source in SOURCES:
                values.pop(source, None)
        parser.set_defaults(**values)
    return parser.parse_args(argv), path
