"""What HACS, hassfest and Home Assistant's installer check, checked here first."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
import subprocess
import sys

from packaging.requirements import Requirement
import pytest

import homeassistant

ROOT = Path(__file__).resolve().parent.parent
COMPONENT = ROOT / "custom_components" / "aiy_realtime"
HACS_KEYS = {
    "content_in_root",
    "country",
    "filename",
    "hacs",
    "hide_default_branch",
    "homeassistant",
    "name",
    "persistent_directory",
    "render_readme",
    "zip_release",
}


# sha256 of the Apache License 2.0 as the ASF publishes it (apache.org/licenses/LICENSE-2.0.txt).
APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def test_license_is_the_unmodified_apache_2_0_text() -> None:
    """HACS wants a LICENSE; the project's is Apache-2.0, the ASF's text with nothing added."""
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert hashlib.sha256(text.encode()).hexdigest() == APACHE_2_0_SHA256


def test_hacs_json_has_only_allowed_keys() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert hacs["name"]
    assert set(hacs) <= HACS_KEYS
    assert [p.name for p in (ROOT / "custom_components").iterdir() if p.is_dir()] == [
        "aiy_realtime"
    ]


def test_manifest_order_and_keys() -> None:
    manifest = json.loads((COMPONENT / "manifest.json").read_text())
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert manifest["domain"] == "aiy_realtime"
    assert {"version", "config_flow", "iot_class", "issue_tracker", "codeowners"} <= set(keys)


def test_manifest_requirements_install_under_home_assistant_pins() -> None:
    constraints_file = Path(homeassistant.__file__).parent / "package_constraints.txt"
    pins: dict[str, str] = {}
    for raw in constraints_file.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line and ";" not in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    manifest = json.loads((COMPONENT / "manifest.json").read_text())
    for text in manifest["requirements"]:
        requirement = Requirement(text)
        pinned = pins.get(requirement.name.lower())
        if pinned is not None:
            assert requirement.specifier.contains(pinned), f"{text} conflicts with HA's {pinned}"


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:2])


PINNED = next(
    line.split("==")[1].strip()
    for line in (ROOT / "requirements.txt").read_text().splitlines()
    if line.startswith("homeassistant==")
)
"""The Home Assistant release the project is built and tested on (scripts/test-newest also runs
the suite on the newest one)."""


def test_minimum_home_assistant_is_the_tested_one() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    minimum = _release(hacs["homeassistant"])
    assert minimum == _release(PINNED)
    assert _release(homeassistant.const.__version__) >= minimum


@pytest.mark.skipif(
    homeassistant.const.__version__ != PINNED,
    reason="en.json is made from the pinned release's common strings, which newer ones reword",
)
def test_english_translations_are_current() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "translations.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_brand_icon_is_a_png() -> None:
    assert (COMPONENT / "brand" / "icon.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lower_layers_never_import_home_assistant() -> None:
    for folder in ("realtime", "hardware"):
        for path in (COMPONENT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                    if node.level and node.module is None:
                        names = [alias.name for alias in node.names]
                    if node.level >= 2:
                        names.append("..")
                for name in names:
                    assert not name.startswith("homeassistant"), f"{path} imports {name}"
                    assert name != "..", f"{path} imports the HA layer"


def _string_constants() -> dict[str, str]:
    """Module-level `NAME: Final = "text"` constants of const.py, to resolve keys given by name."""
    tree = ast.parse((COMPONENT / "const.py").read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found[node.target.id] = node.value.value
    return found


REASON_KEYS = {
    "f'kit_{err.reason}'",
    "f'{ISSUE_RETIRING_MODEL}_{kind}'",
    "retired.translation_key",  # retirements.retired_error's, checked with the one above
}
"""Keys made from a failure's reason (the code's own spelling of them)."""


def test_every_reason_has_its_texts() -> None:
    """Each reason the hardware layer gives has its repair issue and its form error."""
    from typing import get_args

    from custom_components.aiy_realtime.assistant.models import ModelKind
    from custom_components.aiy_realtime.const import ISSUE_RETIRING_MODEL
    from custom_components.aiy_realtime.hardware.audio_devices import UnavailableReason
    from custom_components.aiy_realtime.hardware.boards import BoardErrorReason
    from custom_components.aiy_realtime.hardware.pins import GpioUnavailableReason

    strings = json.loads((COMPONENT / "strings.json").read_text())
    errors = strings["config_subentries"]["voice_terminal"]["error"]
    gpio = get_args(GpioUnavailableReason.__value__)
    assert "no_gpio" in gpio
    missing = [f"kit_{r}" for r in gpio if f"kit_{r}" not in strings["issues"]]
    missing += [f"gpio_{r}" for r in gpio if f"gpio_{r}" not in errors]
    missing += [
        f"board_{r}" for r in get_args(BoardErrorReason.__value__) if f"board_{r}" not in errors
    ]
    missing += [
        f"audio_{r}" for r in get_args(UnavailableReason.__value__) if f"audio_{r}" not in errors
    ]
    # A retiring model's issue and the refusal after its date, for each kind of model.
    for kind in get_args(ModelKind.__value__):
        key = f"{ISSUE_RETIRING_MODEL}_{kind}"
        missing += [
            f"{where}.{key}" for where in ("issues", "exceptions") if key not in strings[where]
        ]
    assert missing == []


def test_every_translation_key_in_the_code_has_a_text() -> None:
    """A typo in a translation key shows the key to the user instead of a sentence."""
    strings = json.loads((COMPONENT / "strings.json").read_text())
    constants = _string_constants()
    used: set[tuple[str, str]] = set()
    ha_layer = [
        path
        for path in COMPONENT.rglob("*.py")
        if path.relative_to(COMPONENT).parts[0] not in ("realtime", "hardware")
    ]
    assert len(ha_layer) > 40  # the rooms too, not only the top
    for path in ha_layer:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            callee = ast.unparse(node.func)
            if callee.endswith(("Description", "SelectorConfig")):
                continue  # entity and selector keys: the sensor test and the flow tests
            for keyword in node.keywords:
                if keyword.arg != "translation_key":
                    continue
                value = keyword.value
                if ast.unparse(value) in REASON_KEYS:
                    continue  # one text per reason: test_every_reason_has_its_texts
                key = (
                    value.value
                    if isinstance(value, ast.Constant)
                    else constants.get(ast.unparse(value))
                )
                assert isinstance(key, str), f"{path.relative_to(COMPONENT)}: {ast.unparse(value)}"
                where = "issues" if callee.endswith("async_create_issue") else "exceptions"
                used.add((where, key))
            if callee.endswith("async_translated"):
                given = node.args[2] if len(node.args) > 2 else None
                if isinstance(given, ast.Constant):
                    used.add(("exceptions", given.value))
            if callee == "AgentError":  # the agent's failures, answered as translated texts
                given = node.args[0]
                if ast.unparse(given) in REASON_KEYS:
                    continue
                key = (
                    given.value
                    if isinstance(given, ast.Constant)
                    else constants.get(ast.unparse(given))
                )
                assert isinstance(key, str), f"{path.name}: {ast.unparse(given)}"
                used.add(("exceptions", key))
    assert used, "the scan found nothing: it is broken"
    missing = {(where, key) for where, key in used if key not in strings.get(where, {})}
    assert missing == set()


def test_every_sensor_has_a_name() -> None:
    from custom_components.aiy_realtime.sensor import (
        SENSORS,
        EchoCancellationSensor,
        SessionStateSensor,
    )

    names = json.loads((COMPONENT / "strings.json").read_text())["entity"]["sensor"]
    used = {d.translation_key for d in SENSORS} | {
        SessionStateSensor.TRANSLATION_KEY,
        EchoCancellationSensor.TRANSLATION_KEY,
    }
    assert used == set(names)


def test_every_end_reason_has_a_text() -> None:
    """The Session sensor's `last_end_reason` shows each reason a session can end for."""
    from custom_components.aiy_realtime.realtime.lifecycle import CloseReason

    sensor = json.loads((COMPONENT / "strings.json").read_text())["entity"]["sensor"]
    texts = sensor["session_state"]["state_attributes"]["last_end_reason"]["state"]
    assert set(texts) == {reason.value for reason in CloseReason}


def _lock(**packages: bool) -> dict[str, object]:
    """A pylock.toml as uv writes it for one platform: package → whether it has a wheel there."""
    return {
        "packages": [
            {"name": name, "version": "1.0", "wheels": [{"url": "w"}] if wheel else []}
            | ({} if wheel else {"sdist": {"url": "s"}})
            for name, wheel in packages.items()
        ]
    }


def test_platform_check_fails_on_a_missing_wheel_unless_allowed() -> None:
    """scripts/check-platforms' judgement (CI runs the real resolution through uv)."""
    from scripts import check_platforms as cp

    allowed = cp.parse_exceptions("# comment\nGoogle_CRC32C musllinux a reason\n")
    assert allowed == [cp.Allowance("google-crc32c", ("musllinux",), "a reason")]
    lock = _lock(aiortc=True, **{"google-crc32c": False})
    assert cp.judge("musllinux_1_2_aarch64", lock, allowed) == (
        [],
        ["google-crc32c==1.0: a reason"],
    )
    problems, _ = cp.judge("musllinux_1_2_aarch64", lock, [])
    assert problems == ["google-crc32c==1.0 has no wheel for musllinux_1_2_aarch64"]
    # An allowance that no longer applies is an error too, so the list stays true.
    problems, _ = cp.judge("manylinux_2_28_x86_64", _lock(**{"google-crc32c": True}), allowed)
    assert problems == []
    stale = cp.parse_exceptions("google-crc32c manylinux_2_28_x86_64 why\n")
    problems, _ = cp.judge("manylinux_2_28_x86_64", _lock(**{"google-crc32c": True}), stale)
    assert problems == [
        "google-crc32c has a wheel on manylinux_2_28_x86_64: remove it there from"
        " platform-exceptions.txt"
    ]
    with pytest.raises(ValueError, match="names none of"):
        cp.parse_exceptions("pkg windows why\n")


def test_platform_exceptions_file_parses() -> None:
    from scripts import check_platforms as cp

    assert all(entry.reason for entry in cp.parse_exceptions(cp.EXCEPTIONS.read_text()))
