"""Every command line's `--help`: each option and subcommand has a text, shows its default and its
unit, and a `--no-X` switch says what turning X off does (not what X does when on)."""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

import pytest

from medembed_client import cli as client_cli
from medembed_client import healthcheck
from medembed_encoder import cli as encoder_cli
from medembed_encoder import config
from medembed_evaluator import cli as evaluator_cli
from medembed_proto.helpformat import help_text, walk

ROOT = Path(__file__).resolve().parents[2]
UNITS = re.compile(r"\b(seconds?|ms|bytes|items?|pixels|voxels|images|files|port|processes|threads|requests|RPCs|"
                   r"count|long side / short side|batch(es)?)\b")
SKIPPED = (argparse._HelpAction, argparse._SubParsersAction)


def _bench_parser() -> argparse.ArgumentParser:
    spec = importlib.util.spec_from_file_location("bench_script", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_script", module)
    spec.loader.exec_module(module)
    return module.build_parser()


PARSERS = {"medembed": client_cli._parser, "medembed-encoder": encoder_cli._parser,
           "medembed-evaluate": evaluator_cli._parser, "scripts/bench.py": _bench_parser,
           "healthcheck": healthcheck._parser}


def _options() -> list[tuple[str, argparse.ArgumentParser, argparse.Action]]:
    found = []
    for name, build in PARSERS.items():
        for prog, parser in walk(build(), name):
            found += [(prog, parser, action) for action in parser._actions
                      if not isinstance(action, SKIPPED) and action.help != argparse.SUPPRESS]
    return found


def _label(item: tuple[str, argparse.ArgumentParser, argparse.Action]) -> str:
    prog, _, action = item
    return f"{prog} {action.option_strings[0] if action.option_strings else action.dest}"


OPTIONS = _options()


def test_the_walk_finds_every_command_line_and_subcommand():
    progs = {prog for prog, _, _ in OPTIONS}
    assert {"medembed models", "medembed health", "medembed embed", "medembed-encoder serve",
            "medembed-encoder catalog", "medembed-evaluate run", "scripts/bench.py", "healthcheck"} <= progs
    assert len(OPTIONS) > 60


@pytest.mark.parametrize("item", OPTIONS, ids=_label)
def test_every_option_has_a_help_text_with_its_default(item):
    prog, parser, action = item
    text = help_text(parser, action)
    assert len(text) > 12, f"{_label(item)} has no help text"
    if not action.option_strings or action.required or "(required" in text:
        return
    if action.default is None:  # read from an env var when unset: the text must say which, or the default
        assert "env" in text or "default" in text, f"{_label(item)}: {text}"
    else:
        assert "default" in text, f"{_label(item)} shows no default: {text}"
        assert "%(default)" not in text and "None" not in text
    assert "".join(text.split()) in "".join(parser.format_help().split())  # as printed, line breaks aside


@pytest.mark.parametrize("item", OPTIONS, ids=_label)
def test_numeric_options_name_their_unit(item):
    prog, parser, action = item
    numeric = action.type in (int, float) or (prog == "medembed-encoder serve" and action.dest in _numeric_settings())
    if numeric:
        assert UNITS.search(help_text(parser, action)), f"{_label(item)} names no unit: {help_text(parser, action)}"


def _numeric_settings() -> set[str]:
    defaults = config.Settings()
    return {name for name in config.setting_names()
            if isinstance(getattr(defaults, name), int | float) and not isinstance(getattr(defaults, name), bool)}


@pytest.mark.parametrize("item", [i for i in OPTIONS if i[2].option_strings[:1] and
                                  i[2].option_strings[0].startswith("--no-")], ids=_label)
def test_a_no_switch_describes_turning_its_setting_off(item):
    prog, parser, action = item
    text = help_text(parser, action)
    name = action.option_strings[0].removeprefix("--no-").replace("-", "_")
    assert text.startswith(f"turns {name} off: "), text
    off_part = text.split("[", 1)[0]
    on_text = config.Settings.__dataclass_fields__[name].metadata["help"]
    assert on_text not in off_part  # the description of the setting when on sits only under "default on"
    assert f"default on: {on_text}" in " ".join(text.split())


def test_switches_that_are_on_by_default_carry_their_off_text():
    defaults = config.Settings()
    for item in config.fields(config.Settings):
        if getattr(defaults, item.name) is True:
            assert len(item.metadata["off"]) > 20, f"{item.name}: setting(..., off=...) says what turning it off does"


def test_serve_help_says_what_the_no_switches_do():
    parser = dict(walk(encoder_cli._parser(), "medembed-encoder"))["medembed-encoder serve"]
    text = " ".join(parser.format_help().split())
    idle = re.search(r"--no-start-when-idle (.*?) --forward-workers", text).group(1)
    assert idle.startswith("turns start_when_idle off: an idle model too waits up to max_queue_delay_ms")
    digest = re.search(r"--no-digest-lookup (.*?) --max-queue-items", text).group(1)
    assert digest.startswith("turns digest_lookup off: items that carry only their content_sha256 fail as not_cached")
    assert "--allow-random-weights" in text and "MEDEMBED_ALLOW_RANDOM_WEIGHTS=1; default off]" in text


def test_client_flags_the_issue_named_have_help_defaults_and_units():
    parsers = dict(walk(client_cli._parser(), "medembed"))
    text = {prog: " ".join(p.format_help().split()) for prog, p in parsers.items()}
    assert "--json one JSON object a line per model" in text["medembed models"]
    assert "--timeout TIMEOUT seconds to wait for the answer (default: 3.0)" in text["medembed health"]
    assert "(default: bulk)" in text["medembed embed"] and "--skip-cache compute every vector again" in text[
        "medembed embed"]
    assert "unset or empty: localhost:50051" in text["medembed"]


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_medembed_target_means_the_default_target(value):
    assert client_cli.resolve_target(None, {"MEDEMBED_TARGET": value}) == "localhost:50051"
    assert client_cli.resolve_target(None, {"MEDEMBED_TARGET": "enc:1"}) == "enc:1"
    assert client_cli.resolve_target("flag:2", {"MEDEMBED_TARGET": "enc:1"}) == "flag:2"


def test_add_imagefolder_takes_a_name_for_the_table_column(tmp_path):
    folder = tmp_path / "Dataset_BUSI_with_GT"
    folder.mkdir()
    odd = tmp_path / "a=b"
    odd.mkdir()
    assert evaluator_cli.imagefolder_entry(f"busi={folder}").name == "busi"
    assert evaluator_cli.imagefolder_entry(str(folder)).name == "Dataset_BUSI_with_GT"
    assert evaluator_cli.imagefolder_entry(str(odd)).name == "a=b"
    assert evaluator_cli.imagefolder_entry(f"busi={folder}").path == str(folder.resolve())
