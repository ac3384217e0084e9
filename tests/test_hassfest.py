"""Home Assistant's rules for an integration's files, checked on custom_components/aiy_realtime.

HA's own validator, hassfest (script/hassfest in home-assistant/core), cannot be had from PyPI:
the homeassistant sdist holds only homeassistant/ (MANIFEST.in grafts nothing else) and no other
package ships it. So the files hassfest reads (manifest.json, icons.json, strings.json,
translations/en.json, services.yaml) are checked here against what the installed Home Assistant
itself defines and uses, which follows the pinned version without a copy of any rule list:

- every fixed key (file sections, a flow step's keys, an entity's icon keys, ...) must be one that
  some core integration in the homeassistant package uses at the same place in the same file
  (names chosen by the integration, marked `*` below, are free);
- manifest keys are those of `homeassistant.loader.Manifest`, `integration_type` one of its
  values, `iot_class` one core integrations use, `version` one HA's loader accepts;
- entity platforms are `homeassistant.const.Platform`s, texts pass `cv.string_with_no_html`,
  icons are `mdi:` names, selectors in services.yaml pass `selector.validate_selector`.

A finding names the file and the key path, e.g. `icons.json: config_subentries: not a key ...`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
import json
from pathlib import Path
import shutil
from typing import Any, get_args

from awesomeversion import AwesomeVersion, AwesomeVersionException, AwesomeVersionStrategy
from packaging.requirements import InvalidRequirement, Requirement
import probatio
import pytest

import homeassistant
from homeassistant.const import Platform
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv, selector
from homeassistant.loader import Manifest
from homeassistant.util.yaml import load_yaml

ROOT = Path(__file__).resolve().parent.parent
COMPONENT = ROOT / "custom_components" / "aiy_realtime"
CORE = Path(homeassistant.__file__).parent / "components"

Path_ = tuple[str, ...]
ANY = "*"  # a level of names the integration chooses
# Where a flow's texts have fixed keys, relative to the flow (config, options, a subentry type,
# a repair's fix_flow): all flows share one format, so their vocabularies are pooled.
FLOWS: tuple[Path_, ...] = (
    ("config",),
    ("options",),
    ("config_subentries", ANY),
    ("issues", ANY, "fix_flow"),
)
FLOW_LEVELS: tuple[Path_, ...] = ((), ("step", ANY), ("step", ANY, "sections", ANY))
# Other places in strings.json whose keys are fixed.
STRINGS_LEVELS: tuple[Path_, ...] = (
    (),
    ("config_subentries", ANY, "initiate_flow"),
    ("entity", ANY, ANY),
    ("entity", ANY, ANY, "state_attributes", ANY),
    ("exceptions", ANY),
    ("issues", ANY),
    ("selector", ANY),
    ("services", ANY),
    ("services", ANY, "fields", ANY),
    ("services", ANY, "sections", ANY),
)
ICONS_LEVELS: tuple[Path_, ...] = (
    (),
    ("entity", ANY, ANY),
    ("entity", ANY, ANY, "state_attributes", ANY),
    ("entity_component", ANY),
    ("services", ANY),
)
SERVICES_LEVELS: tuple[Path_, ...] = ((ANY,), (ANY, "fields", ANY))
# Filled in by Home Assistant, never written in a manifest.
MANIFEST_COMPUTED = {"is_built_in", "overwrites_built_in"}
CUSTOM_MANIFEST_REQUIRED = {"domain", "name", "version", "codeowners", "documentation"}
VERSION_STRATEGIES = [  # what homeassistant.loader accepts for a custom integration's version
    AwesomeVersionStrategy.CALVER,
    AwesomeVersionStrategy.SEMVER,
    AwesomeVersionStrategy.SIMPLEVER,
    AwesomeVersionStrategy.BUILDVER,
    AwesomeVersionStrategy.PEP440,
]


# --- what core uses ---------------------------------------------------------------------------


@cache
def _core_files(name: str) -> tuple[Any, ...]:
    """Every core integration's file `name` (strings.json, icons.json, services.yaml), parsed."""
    parsed = [_parse(path) for path in sorted(CORE.glob(f"*/{name}"))]
    assert parsed, f"no core {name} in {CORE}: the homeassistant package changed its layout"
    return tuple(parsed)


def _nodes(tree: Any, pattern: Path_) -> Iterator[Any]:
    """The nodes of `tree` at `pattern` (ANY matches every key)."""
    if not pattern:
        yield tree
        return
    if not isinstance(tree, dict):
        return
    head, rest = pattern[0], pattern[1:]
    children = tree.values() if head == ANY else [tree[head]] if head in tree else []
    for child in children:
        yield from _nodes(child, rest)


@cache
def _core_keys(name: str, patterns: tuple[Path_, ...]) -> frozenset[str]:
    """Keys that core's files `name` use at any of `patterns`."""
    return frozenset(
        key
        for tree in _core_files(name)
        for pattern in patterns
        for node in _nodes(tree, pattern)
        if isinstance(node, dict)
        for key in node
    )


def _walk(tree: Any, pattern: Path_, path: Path_ = ()) -> Iterator[tuple[Path_, dict[str, Any]]]:
    """(actual path, node) of our nodes at `pattern`."""
    if not pattern:
        if isinstance(tree, dict):
            yield path, tree
        return
    if not isinstance(tree, dict):
        return
    head, rest = pattern[0], pattern[1:]
    for key, child in tree.items():
        if head in (ANY, key):
            yield from _walk(child, rest, (*path, key))


def _leaves(tree: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    if isinstance(tree, dict):
        for key, child in tree.items():
            yield from _leaves(child, (*path, key))
    else:
        yield path, tree


def _where(path: Iterable[str]) -> str:
    return ".".join(path) or "(top level)"


def _unknown_keys(
    file: str, ours: Any, core_name: str, levels: Iterable[tuple[Path_, tuple[Path_, ...]]]
) -> list[str]:
    """Findings for keys of `ours` that core's `core_name` files never use at the same level.

    `levels`: (our pattern, the core patterns whose keys are allowed there).
    """
    found = []
    for pattern, core_patterns in levels:
        allowed = _core_keys(core_name, core_patterns)
        for path, node in _walk(ours, pattern):
            found.extend(
                f"{file}: {_where((*path, key))}: not a key Home Assistant has here"
                f" (it knows {', '.join(sorted(allowed))})"
                for key in node
                if key not in allowed
            )
    return found


# --- the checks -------------------------------------------------------------------------------


def _parse(file: Path) -> Any:
    return load_yaml(str(file)) if file.suffix == ".yaml" else json.loads(file.read_text())


def _load(file: Path) -> tuple[Any, list[str]]:
    """(content, []) or (None, [the finding])."""
    try:
        return _parse(file), []
    except (OSError, ValueError, HomeAssistantError) as err:
        return None, [f"{file.name}: cannot be read: {err}"]


def check_manifest(component: Path) -> list[str]:
    manifest, found = _load(component / "manifest.json")
    if manifest is None:
        return found
    allowed = set(Manifest.__annotations__) - MANIFEST_COMPUTED
    found += [f"manifest.json: {key}: not a manifest key" for key in manifest if key not in allowed]
    found += [
        f"manifest.json: {key}: required for a custom integration"
        for key in sorted(CUSTOM_MANIFEST_REQUIRED - set(manifest))
    ]
    if manifest.get("domain") != component.name:
        found.append(f"manifest.json: domain: {manifest.get('domain')!r} is not the folder's name")
    try:
        AwesomeVersion(str(manifest.get("version")), ensure_strategy=VERSION_STRATEGIES)
    except AwesomeVersionException:
        found.append(f"manifest.json: version: {manifest.get('version')!r} is not a version")
    types = get_args(Manifest.__annotations__["integration_type"])
    if "integration_type" in manifest and manifest["integration_type"] not in types:
        found.append(f"manifest.json: integration_type: not one of {', '.join(types)}")
    iot_classes = {m["iot_class"] for m in _core_files("manifest.json") if "iot_class" in m}
    if manifest.get("iot_class") not in iot_classes:
        found.append(f"manifest.json: iot_class: not one of {', '.join(sorted(iot_classes))}")
    for key in ("dependencies", "after_dependencies"):
        found.extend(
            f"manifest.json: {key}: {domain} is not a Home Assistant integration"
            for domain in manifest.get(key, [])
            if not (CORE / domain / "manifest.json").is_file()
        )
    found.extend(
        f"manifest.json: codeowners: {owner!r} is not a @user or @org/team"
        for owner in manifest.get("codeowners", [])
        if not str(owner).startswith("@")
    )
    for key in ("documentation", "issue_tracker"):
        if key in manifest:
            try:
                cv.url(manifest[key])
            except probatio.Invalid:
                found.append(f"manifest.json: {key}: not a URL")
    for text in manifest.get("requirements", []):
        try:
            Requirement(text)
        except InvalidRequirement as err:
            found.append(f"manifest.json: requirements: {text!r}: {err}")
    if manifest.get("config_flow") and not (component / "config_flow.py").is_file():
        found.append("manifest.json: config_flow: true, but there is no config_flow.py")
    return found


def check_icons(component: Path) -> list[str]:
    if not (component / "icons.json").is_file():
        return []
    icons, found = _load(component / "icons.json")
    if icons is None:
        return found
    found += _unknown_keys(
        "icons.json", icons, "icons.json", [(level, (level,)) for level in ICONS_LEVELS]
    )
    found += _platforms("icons.json", icons)
    for path, value in _leaves(icons):
        if not (isinstance(value, str) and value.startswith("mdi:")):
            found.append(f"icons.json: {_where(path)}: {value!r} is not an mdi: icon")
    return found


def _platforms(file: str, tree: Any) -> list[str]:
    platforms = {str(p) for p in Platform}
    return [
        f"{file}: entity.{platform}: not an entity platform"
        for _, node in _walk(tree, ("entity",))
        for platform in node
        if platform not in platforms
    ]


def check_translations(component: Path) -> list[str]:
    found: list[str] = []
    for file in (component / "strings.json", component / "translations" / "en.json"):
        name = str(file.relative_to(component))
        if not file.is_file():
            found.append(f"{name}: missing")
            continue
        strings, errors = _load(file)
        found += errors
        if strings is None:
            continue
        levels = [(level, (level,)) for level in STRINGS_LEVELS]
        for flow in FLOWS:
            levels += [
                ((*flow, *level), tuple((*core, *level) for core in FLOWS)) for level in FLOW_LEVELS
            ]
        found += _unknown_keys(name, strings, "strings.json", levels)
        found += _platforms(name, strings)
        for path, value in _leaves(strings):
            try:
                cv.string_with_no_html(value)
            except probatio.Invalid as err:
                found.append(f"{name}: {_where(path)}: {err}")
    return found


def check_services(component: Path) -> list[str]:
    """services.yaml: known keys, valid selectors, a name and description for each action."""
    strings, _ = _load(component / "strings.json")
    icons, _ = _load(component / "icons.json")
    if not (component / "services.yaml").is_file():
        return [
            f"icons.json: services.{service}: there is no services.yaml with this action"
            for service in (icons or {}).get("services", {})
        ]
    services, found = _load(component / "services.yaml")
    if services is None:
        return found
    if not isinstance(services, dict):
        return ["services.yaml: not a mapping of actions"]
    services = {name: spec or {} for name, spec in services.items()}
    found += _unknown_keys(
        "services.yaml", services, "services.yaml", [(level, (level,)) for level in SERVICES_LEVELS]
    )
    texts = (strings or {}).get("services", {})
    for name, spec in services.items():
        for path, field in _fields(spec.get("fields") or {}, (name, "fields")):
            if "selector" in field:
                try:
                    selector.validate_selector(field["selector"])
                except probatio.Invalid as err:
                    found.append(f"services.yaml: {_where(path)}.selector: {err}")
        text = texts.get(name, {})
        for key in ("name", "description"):
            if key not in text and key not in spec:
                found.append(f"strings.json: services.{name}.{key}: missing")
        for path, field in _fields(spec.get("fields") or {}, ()):
            field_text = text.get("fields", {}).get(path[-1], {})
            if "name" not in field_text and "name" not in field:
                found.append(f"strings.json: services.{name}.fields.{path[-1]}.name: missing")
    found.extend(
        f"icons.json: services.{service}: not an action in services.yaml"
        for service in (icons or {}).get("services", {})
        if service not in services
    )
    return found


def _fields(fields: dict[str, Any], path: Path_) -> Iterator[tuple[Path_, dict[str, Any]]]:
    """Each field of an action, also those inside sections (a field with `fields` of its own)."""
    for key, spec in fields.items():
        field = spec or {}
        if "fields" in field:
            yield from _fields(field["fields"], (*path, key, "fields"))
        else:
            yield (*path, key), field


def findings(component: Path) -> list[str]:
    return [
        *check_manifest(component),
        *check_icons(component),
        *check_translations(component),
        *check_services(component),
    ]


# --- the tests --------------------------------------------------------------------------------


def test_integration_follows_home_assistants_file_rules() -> None:
    found = findings(COMPONENT)
    if found:
        pytest.fail(
            f"{len(found)} finding(s) in {COMPONENT.relative_to(ROOT)}:\n  " + "\n  ".join(found),
            pytrace=False,
        )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the integration to break on purpose."""
    target = tmp_path / COMPONENT.name
    shutil.copytree(COMPONENT, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _edit_json(file: Path, change: Any) -> None:
    data = json.loads(file.read_text())
    change(data)
    file.write_text(json.dumps(data))


def test_the_checks_catch_what_hassfest_rejects(copy: Path) -> None:
    """Each kind of mistake is found: the suite above would not pass them silently."""
    _edit_json(
        copy / "icons.json",
        lambda d: d.update(config_subentries={"conversation": {"entry_type": "mdi:account"}}),
    )
    _edit_json(copy / "icons.json", lambda d: d["entity"]["sensor"].update(x={"defualt": "mdi:a"}))
    _edit_json(copy / "icons.json", lambda d: d["entity"].update(sensors={}))
    _edit_json(copy / "manifest.json", lambda d: d.update(iot_class="cloud", homepage="x"))
    _edit_json(copy / "manifest.json", lambda d: d.pop("version"))
    _edit_json(copy / "strings.json", lambda d: d.update(exception={}))
    _edit_json(
        copy / "strings.json",
        lambda d: d["config"]["step"]["user"].update(placeholder="x", data={"a": "<b>x</b>"}),
    )
    (copy / "services.yaml").write_text("ask:\n  fields:\n    text:\n      selector: {nope: {}}\n")
    found = "\n".join(findings(copy))
    for expected in (
        "icons.json: config_subentries: not a key",
        "icons.json: entity.sensor.x.defualt: not a key",
        "icons.json: entity.sensors: not an entity platform",
        "manifest.json: homepage: not a manifest key",
        "manifest.json: iot_class: not one of",
        "manifest.json: version: required",
        "strings.json: exception: not a key",
        "strings.json: config.step.user.placeholder: not a key",
        "strings.json: config.step.user.data.a: the string should not contain HTML",
        "services.yaml: ask.fields.text.selector:",
        "strings.json: services.ask.name: missing",
    ):
        assert expected in found, f"{expected!r} not in:\n{found}"
