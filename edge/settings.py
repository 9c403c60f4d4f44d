"""Settings declared once: each :class:`Setting` gives a command's flag, its help, type, default
and bounds, and (edge-run) its TOML key (``--fps-cap`` is ``fps_cap``). Each command has one
table (``edge/run/settings.py``, ``edge/convert/settings.py``, ``edge/bench/settings.py``); the
parser is built from it with argparse's public API, so flags, the config file and in-process
options cannot drift apart, and a flag means the same thing in every command.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from edge.errors import EdgeError

MAX_THREADS = 128  # inference threads; more only costs context switches on any Pi or PC


@dataclass(frozen=True)
class Setting:
    """One setting.

    ``minimum``/``maximum`` bound numbers (``above``: strictly greater than the minimum,
    ``below``: strictly less than the maximum);
    ``const`` makes the flag's value optional (``--picamera`` means 0, ``--json`` means print);
    ``in_file`` False: the flag is about one invocation (``--check-config``), not a key of the
    config file; ``many``: a comma-separated list (``--threads 1,2``); ``positional``: an
    argument without a flag (``nargs`` as argparse's); ``parse``: turns the text into the
    value (sizes like 320K), raising ValueError with what is allowed.
    """

    name: str
    type: type
    default: object = None
    help: str = ""
    group: str = ""
    short: str | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    above: bool = False
    maximum: float | None = None
    below: bool = False
    const: object = None
    many: bool = False
    positional: bool = False
    nargs: str | None = None
    parse: Callable[[str], object] | None = None
    in_file: bool = True  # edge-run: also a key of the TOML config file
    negatable: bool = True  # a bool flag has a --no- form
    repeat: bool = False  # with many: the flag may be given again, adding to the list

    @property
    def flag(self) -> str:
        return self.name if self.positional else "--" + self.name.replace("_", "-")

    def check(self, value):
        """``value`` if within bounds, else ValueError saying what is allowed."""
        if self.many and isinstance(value, (list, tuple)):
            return [self.check(v) for v in value]
        bounded = self.minimum is not None or self.maximum is not None
        if self.type is float and bounded and not math.isfinite(value):
            # a setting without bounds here is checked where its cost can be explained
            raise ValueError(f"must be a finite number, got {value}")
        if self.minimum is not None and (value <= self.minimum if self.above
                                         else value < self.minimum):
            raise ValueError(f"must be {'>' if self.above else '>='} {self.minimum:g}, "
                             f"got {value:g}")
        if self.maximum is not None and (value >= self.maximum if self.below
                                         else value > self.maximum):
            raise ValueError(f"must be {'<' if self.below else '<='} {self.maximum:g}, "
                             f"got {value:g}")
        if self.choices and value not in self.choices:
            raise ValueError(f"expected one of {', '.join(self.choices)}, got {value!r}")
        return value

    def convert(self, text: str):
        """Command-line text -> the setting's value, within bounds (ValueError otherwise)."""
        if self.many:
            parts = [p.strip() for p in text.split(",")]
            if not all(parts):
                raise ValueError(f"expected a comma-separated list, got {text!r}")
            return [self._one(p) for p in parts]
        return self._one(text)

    def _one(self, text: str):
        if self.parse is not None:
            return self.check(self.parse(text))
        try:
            value = self.type(text)
        except ValueError:
            raise ValueError(f"expected {kind(self.type)}, got {text!r}") from None
        return self.check(value)

    def parse_text(self, text: str):
        """argparse's ``type=``: :meth:`convert` with argparse's error type."""
        try:
            return self.convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    def from_toml(self, value, where: str):
        """A TOML value -> the setting's type; EdgeError naming ``where`` when it is wrong."""
        got = f"{value!r} ({type(value).__name__})"
        if self.type is bool:
            if not isinstance(value, bool):
                raise EdgeError(f"{where}: expected true or false, got {got}")
            return value
        if isinstance(value, bool):
            raise EdgeError(f"{where}: expected {kind(self.type)}, got {got}")
        if self.type is int and not isinstance(value, int):
            raise EdgeError(f"{where}: expected an integer, got {got}")
        if self.type is float and not isinstance(value, (int, float)):
            raise EdgeError(f"{where}: expected a number, got {got}")
        if self.type is str and self.name == "camera" and isinstance(value, int):
            value = str(value)  # camera = 0 reads naturally in TOML
        if self.type in (str, Path) and not (isinstance(value, str) and value):
            raise EdgeError(f"{where}: expected {kind(self.type)}, got {got}")
        try:
            return self.check(self.type(value))
        except ValueError as exc:
            raise EdgeError(f"{where}: {exc}") from None

    def validated(self, value, where: str = ""):
        """An in-process value (not from text) checked against the bounds: EdgeError naming
        the flag when it is out of them. None passes (not given)."""
        if value is None or self.type in (bool, Path) or self.parse is not None:
            return value
        try:
            return self.check(value)
        except ValueError as exc:
            raise EdgeError(f"{where or self.flag}: {exc}") from None


STDOUT = Path("-")  # --json without a FILE: print it


def json_setting(what: str, **kw) -> Setting:
    """``--json [FILE]``, the same in every command: print ``what`` as JSON instead of text,
    or with FILE write the JSON there (atomically) and print the text as usual."""
    return Setting("json", Path, const=STDOUT, metavar="FILE",
                   help=f"print {what} as JSON instead of text; with FILE, write the JSON "
                        "there and print the text", **kw)


def threads_setting(many: bool = False, **kw) -> Setting:
    """``--threads``: inference threads, the same bounds everywhere; edge-bench takes a list."""
    return Setting("threads", int, metavar="N[,N...]" if many else "N", minimum=1,
                   maximum=MAX_THREADS, many=many, **kw)


def write_json(path: Path, data: dict) -> None:
    """The JSON of ``--json FILE``, written whole or not at all."""
    import json

    from edge.fileio import write_bytes_atomic

    write_bytes_atomic(path, (json.dumps(data, indent=1) + "\n").encode())


def kind(type_: type) -> str:
    return {int: "an integer", float: "a number", Path: "a path (string)",
            str: "a string"}.get(type_, type_.__name__)


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one-line EdgeErrors (exit 2) and never guesses
    abbreviations (``--synth`` is not ``--synthetic``)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message: str):
        raise EdgeError(message)


def add_settings(parser: argparse.ArgumentParser, settings: Iterable[Setting]) -> None:
    """One flag (or positional argument) per setting, in groups, with types that enforce the
    bounds."""
    groups: dict[str, object] = {}
    for s in settings:
        if s.group and s.group not in groups:
            groups[s.group] = parser.add_argument_group(s.group)
        target = groups[s.group] if s.group else parser
        if s.positional:
            target.add_argument(s.name, nargs=s.nargs, type=s.parse_text, metavar=s.metavar,
                                help=s.help, default=s.default)
            continue
        names = [s.flag, *([s.short] if s.short else [])]
        kw: dict = {"dest": s.name, "default": s.default, "help": s.help}
        if s.type is bool:
            action = argparse.BooleanOptionalAction if s.negatable else "store_true"
            target.add_argument(*names, action=action, **kw)
            continue
        kw["metavar"] = s.metavar
        if s.choices and not s.many:
            kw["choices"] = s.choices
        else:
            kw["type"] = s.parse_text
        if s.const is not None:
            kw.update(nargs="?", const=s.const)
        if s.repeat:
            kw["action"] = "extend"
        target.add_argument(*names, **kw)


def build_parser(prog: str, description: str, settings: Iterable[Setting]) -> Parser:
    """The command's parser from its settings table."""
    parser = Parser(prog=prog, description=description)
    add_settings(parser, settings)
    return parser


def given_on_command_line(argv: list[str], settings: Iterable[Setting]) -> set[str]:
    """Names of the settings whose flag (or ``--no-`` form, or short flag) is in ``argv``."""
    given = set()
    for s in settings:
        spellings = {s.flag, "--no-" + s.flag[2:], *([s.short] if s.short else [])}
        if any(arg.split("=", 1)[0] in spellings for arg in argv):
            given.add(s.name)
    return given
