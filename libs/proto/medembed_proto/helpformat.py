"""One `--help` style for the project's command lines (`medembed`, `medembed-encoder`,
`medembed-evaluate`, `scripts/bench.py`): every option shows its default.

argparse's own ArgumentDefaultsHelpFormatter prints `(default: False)` for switches and
`(default: None)` for options read from an env var when unset; this one prints `(default: off)` for a
switch and leaves alone a text that already says its default.
"""

from __future__ import annotations

import argparse
from typing import Any

_SWITCHES = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction)


class HelpFormatter(argparse.HelpFormatter):
    """argparse.HelpFormatter that appends `(default: VALUE)` to an option's help text, unless the
    text already names its default (contains "default"), the option is required, or its default is
    None (then the text says where the value comes from: an env var) or SUPPRESS."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (text == argparse.SUPPRESS or not action.option_strings or action.required
                or "default" in text.lower() or action.default in (None, argparse.SUPPRESS)):
            return text
        if isinstance(action, _SWITCHES) and action.default in (False, None):
            return f"{text} (default: off)"
        if action.default in ([], ""):
            return f"{text} (default: none)"
        return f"{text} (default: %(default)s)"


def subcommand(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
               **kwargs: Any) -> argparse.ArgumentParser:
    """`commands.add_parser(name, ...)` with HelpFormatter (argparse does not pass the parent's
    formatter_class on to subcommands)."""
    return commands.add_parser(name, formatter_class=HelpFormatter, **kwargs)


def help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text `parser --help` prints for `action`, defaults filled in ('' when it has none)."""
    if not action.help:
        return ""
    return parser._get_formatter()._expand_help(action)


def walk(parser: argparse.ArgumentParser, prog: str = "") -> list[tuple[str, argparse.ArgumentParser]]:
    """`parser` and every subcommand's parser below it, as (`prog command ...`, parser) pairs."""
    found = [(prog or parser.prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += walk(sub, f"{prog or parser.prog} {name}")
    return found


__all__ = ["HelpFormatter", "help_text", "subcommand", "walk"]
