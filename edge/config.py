"""edge-run's TOML configuration: the same settings as its command line, one key per flag.

The schema is read off the argument parser, so every flag has a key (``--fps-cap`` is
``fps_cap``) and nothing can drift apart. Strict: an unknown key or a wrong type is an error
that names the file, the line, the key and what was expected. Flags override the file.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

from edge.errors import EdgeError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_PATH = Path("/etc/edge/edge.toml")
# flags that are about this invocation, not the job
NOT_CONFIGURABLE = {"help", "config", "no_config", "check_config", "doctor", "mqtt_remove"}
SOURCES = ("camera", "picamera", "replay", "synthetic")


def chosen_sources(values: dict) -> list[str]:
    """Which source keys are set (``picamera = 0`` counts: 0 is a camera index)."""
    return [s for s in SOURCES if values.get(s) is not None and values.get(s) is not False]


class ConfigError(EdgeError):
    exit_code = 2


def schema(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions
            if a.dest not in NOT_CONFIGURABLE and a.option_strings}


def _kind(action: argparse.Action) -> str:
    if isinstance(action, (argparse._StoreTrueAction, argparse.BooleanOptionalAction)):
        return "boolean"
    if action.type is int:
        return "integer"
    if action.type is float:
        return "number"
    if action.type is Path:
        return "path"
    return "string"


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*({re.escape(key)}\s*=|\[\s*{re.escape(key)}\s*\])", line):
            return number
    return None


def _convert(action: argparse.Action, value, where: str):
    kind = _kind(action)
    got = f"{value!r} ({type(value).__name__})"
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {got}")
        return value
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a {kind}, got {got}")
    if kind == "integer":
        if isinstance(value, int):
            return value
        raise ConfigError(f"{where}: expected an integer, got {got}")
    if kind == "number":
        if isinstance(value, (int, float)):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {got}")
    if kind == "path":
        if isinstance(value, str) and value:
            return Path(value)
        raise ConfigError(f"{where}: expected a path (string), got {got}")
    if action.dest == "camera" and isinstance(value, int):
        value = str(value)  # camera = 0 reads naturally in TOML
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {got}")
    if action.choices and value not in action.choices:
        raise ConfigError(f"{where}: expected one of {', '.join(map(str, action.choices))}, "
                          f"got {value!r}")
    return value


def load(path: Path, parser: argparse.ArgumentParser) -> dict:
    """Validated settings from a TOML file, keyed like the parser's destinations."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    known = schema(parser)
    values = {}
    for key, value in data.items():
        line = _line_of(text, key)
        where = f"{path}:{line}: {key}" if line else f"{path}: {key}"
        if isinstance(value, dict):
            raise ConfigError(f"{where}: tables are not used; write the keys at the top level")
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{where}: unknown key{hint}")
        values[key] = _convert(known[key], value, where)
    chosen = chosen_sources(values)
    if len(chosen) > 1:
        raise ConfigError(f"{path}: choose one source, not {' and '.join(chosen)}")
    return values


def explicit_dests(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """Destinations of the flags that appear on the command line."""
    given = set()
    for action in parser._actions:
        for option in action.option_strings:
            if any(arg == option or arg.startswith(option + "=") for arg in argv):
                given.add(action.dest)
    return given


def parse_with_config(parser: argparse.ArgumentParser, argv: list[str] | None):
    """Parse ``argv`` over the config file's values; returns (args, config path or None)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", type=Path)
    pre.add_argument("--no-config", action="store_true")
    early, _ = pre.parse_known_args(argv)
    path = early.config
    if path is None and not early.no_config and DEFAULT_PATH.is_file():
        path = DEFAULT_PATH
    if path is not None:
        values = load(path, parser)
        if explicit_dests(parser, argv) & set(SOURCES):  # a source flag replaces the file's
            for source in SOURCES:
                values.pop(source, None)
        parser.set_defaults(**values)
    return parser.parse_args(argv), path
