"""The VS Code extension offers every session option (neurodebug/options.py) with its default,
type, choices and range: its settings (package.json `contributes.configuration`), its debugger's
launch attributes (`debuggers[0].configurationAttributes.launch`) and core.js's OPTION_SETTINGS.

Add an option to SessionOptions and these tests fail, naming it, until the extension offers it
(or options.NOT_OFFERED["lsp"] says why it does not).

The convention for an option whose default is None: a string option (free text, or a Literal's
choices) is `"type": "string"` with `"default": ""` ("" first among an enum's choices), because
VS Code's settings editor cannot edit a `["string", "null"]` setting and SessionOptions.from_mapping
reads "" as "not set"; a number option is `"type": ["number" or "integer", "null"]` with
`"default": null` (the settings editor edits nullable numbers). Other defaults are the option's own.
"""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import pytest
from annotated_types import Ge, Gt, Le, Lt
from pydantic.types import Strict

from neurodebug import options
from neurodebug.options import SessionOptions

EXTENSION = Path(__file__).resolve().parents[2] / "lsp" / "vscode"
MANIFEST = json.loads((EXTENSION / "package.json").read_text())
SETTINGS = MANIFEST["contributes"]["configuration"]["properties"]
LAUNCH = MANIFEST["contributes"]["debuggers"][0]["configurationAttributes"]["launch"]["properties"]

#: Settings that are no session option: the client's interpreter and the server's own switch.
OWN_SETTINGS = {"neurodebug.pythonPath", "neurodebug.realRuns"}
#: Launch attributes that are no session option: the debug adapter's own.
OWN_ATTRIBUTES = {"program", "entry", "call", "stopOnEntry"}
#: The JSON-schema keyword of each pydantic constraint.
RANGE = {Ge: ("minimum", "ge"), Gt: ("exclusiveMinimum", "gt"), Le: ("maximum", "le"), Lt: ("exclusiveMaximum", "lt")}
#: Constraints with no JSON-schema keyword: JSON's types are strict already (true is no number, "1" no integer).
NO_KEYWORD = (Strict,)
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}

OFFERED = [name for name in options.OPTIONS if name not in options.NOT_OFFERED["lsp"]]


def expected(name: str) -> dict:
    """What package.json must say of option ``name``: type, enum, range, default (the convention above)."""
    field = SessionOptions.model_fields[name]
    args = typing.get_args(field.annotation)
    nullable = type(None) in args
    base = next(a for a in args if a is not type(None)) if nullable else field.annotation
    choices = options._choices(name)
    if choices:
        assert all(isinstance(c, str) for c in choices), f"option {name}: package.json enums hold strings only"
        json_type = "string"
    else:
        assert base in JSON_TYPES, f"option {name}: no JSON type for {field.annotation} (teach this test one)"
        json_type = JSON_TYPES[base]
    out: dict = {}
    default = field.default
    if default is None and json_type == "string":
        out["type"], default = "string", ""
        if choices:
            choices = ("", *choices)
    elif default is None:
        out["type"] = [json_type, "null"]
    else:
        out["type"] = json_type
    if choices:
        out["enum"] = list(choices)
    for constraint in field.metadata:
        if isinstance(constraint, NO_KEYWORD):
            continue
        assert type(constraint) in RANGE, f"option {name}: no JSON schema keyword for {constraint!r} (teach this test one)"
        keyword, attribute = RANGE[type(constraint)]
        out[keyword] = getattr(constraint, attribute)
    out["default"] = default
    return out


def described(entry: dict) -> str:
    return entry.get("markdownDescription") or entry.get("description") or ""


def help_text(name: str) -> str:
    return SessionOptions.model_fields[name].description


def check_entry(entry: dict, name: str, where: str) -> None:
    want = expected(name)
    got = {key: entry[key] for key in ("type", "enum", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum",
                                       "default") if key in entry}
    assert got == want, f"{where} (option {name}): package.json says {got}, SessionOptions says {want}"
    # the same JSON type as the default, so 0.0 and 0 compare equal but True and 1 do not
    if want["default"] is not None:
        assert type(entry["default"]) is type(want["default"]) or {type(entry["default"]), type(want["default"])} == {int, float}, \
            f"{where} (option {name}): default {entry['default']!r} is not a {type(want['default']).__name__}"
    help_ = help_text(name)
    assert help_[1:] in described(entry) and described(entry)[:1].lower() == help_[:1].lower(), \
        f"{where} (option {name}): the description is not the option's help text {help_!r}"


def test_settings_are_the_options_the_language_server_offers():
    want = {f"neurodebug.{options.camel_name(n)}": n for n in OFFERED}
    missing = sorted(f"{key} (option {name})" for key, name in want.items() if key not in SETTINGS)
    extra = sorted(set(SETTINGS) - set(want) - OWN_SETTINGS)
    assert not missing, f"package.json lacks the settings {missing}"
    assert not extra, f"package.json has settings that are no option: {extra}"
    assert OWN_SETTINGS <= set(SETTINGS), f"package.json lacks {sorted(OWN_SETTINGS - set(SETTINGS))}"
    assert "neurodebug.serverUrl" not in SETTINGS  # now neurodebug.url (the server still reads serverUrl)


@pytest.mark.parametrize("name", OFFERED)
def test_setting_matches_the_option(name):
    key = f"neurodebug.{options.camel_name(name)}"
    assert key in SETTINGS, f"package.json lacks the setting {key} (option {name})"
    check_entry(SETTINGS[key], name, f"setting {key}")


def test_own_settings_keep_their_meaning():
    assert SETTINGS["neurodebug.pythonPath"] == {"type": "string", "default": "", "description": SETTINGS["neurodebug.pythonPath"]["description"]}
    assert SETTINGS["neurodebug.realRuns"]["type"] == "boolean" and SETTINGS["neurodebug.realRuns"]["default"] is True


def test_launch_attributes_are_every_option():
    want = {options.camel_name(n): n for n in options.OPTIONS if n not in options.NOT_OFFERED["dap"]}
    missing = sorted(f"{key} (option {name})" for key, name in want.items() if key not in LAUNCH)
    extra = sorted(set(LAUNCH) - set(want) - OWN_ATTRIBUTES)
    assert not missing, f"package.json lacks the launch attributes {missing}"
    assert not extra, f"package.json has launch attributes that are no option: {extra}"
    assert OWN_ATTRIBUTES <= set(LAUNCH), f"package.json lacks {sorted(OWN_ATTRIBUTES - set(LAUNCH))}"


@pytest.mark.parametrize("name", [n for n in options.OPTIONS if n not in options.NOT_OFFERED["dap"]])
def test_launch_attribute_matches_the_option(name):
    key = options.camel_name(name)
    assert key in LAUNCH, f"package.json lacks the launch attribute {key} (option {name})"
    check_entry(LAUNCH[key], name, f"launch attribute {key}")
    if name not in options.NOT_OFFERED["lsp"]:  # unset, it takes the setting (core.resolveConfiguration)
        assert f"the neurodebug.{key} setting" in described(LAUNCH[key]), \
            f"launch attribute {key}: its description does not say it defaults to the neurodebug.{key} setting"


def test_core_js_option_settings_are_the_option_settings():
    text = (EXTENSION / "lib" / "core.js").read_text()
    match = re.search(r"const OPTION_SETTINGS = (?:Object\.freeze\()?\[(.*?)\]", text, re.S)
    assert match, "lib/core.js has no `const OPTION_SETTINGS = [...]`"
    listed = re.findall(r"'([A-Za-z0-9]+)'", match.group(1))
    want = [options.camel_name(n) for n in OFFERED]
    assert len(listed) == len(set(listed)), f"OPTION_SETTINGS repeats a name: {listed}"
    assert set(listed) == set(want), (f"lib/core.js OPTION_SETTINGS lacks {sorted(set(want) - set(listed))}, "
                                      f"has {sorted(set(listed) - set(want))} that are no offered option")
    assert set(listed) == {k.removeprefix("neurodebug.") for k in SETTINGS} - {"pythonPath", "realRuns"}
