"""Check that manifest.json's requirements install from wheels where Home Assistant runs.

Run by scripts/check-platforms (CI runs it). For each platform below it resolves the manifest's
requirements under Home Assistant's own package_constraints.txt (as Home Assistant installs an
integration's requirements), writes the resolution as a pylock.toml, and fails on any package of
it with no wheel for that platform, unless scripts/platform-exceptions.txt lists the package for
that platform with a reason. A listed package that has a wheel there after all fails too, so the
list cannot go stale.

The resolution is not made with `--only-binary :all:`: that would quietly fall back to an older
release that has wheels, where Home Assistant's installer takes the newest release allowed and
builds it from source. Resolving as the installer does and then looking for wheels is the check.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import json
from pathlib import Path
import subprocess
import sys
import tempfile
import tomllib
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "custom_components" / "aiy_realtime" / "manifest.json"
EXCEPTIONS = ROOT / "scripts" / "platform-exceptions.txt"
PYTHON_VERSION = "3.14"

PLATFORMS: dict[str, str] = {
    # The official image (Home Assistant OS, Container): Alpine, so musl 1.2.
    "musllinux_1_2_aarch64": "aarch64-unknown-linux-musl",
    "musllinux_1_2_x86_64": "x86_64-unknown-linux-musl",
    # Home Assistant Core in a venv on a glibc distribution (Raspberry Pi OS, Debian 12 and on).
    "manylinux_2_28_aarch64": "aarch64-manylinux_2_28",
    "manylinux_2_28_x86_64": "x86_64-manylinux_2_28",
}
"""Our name of each platform → uv's --python-platform for it."""


@dataclass(frozen=True)
class Allowance:
    """A package allowed to have no wheel on some platforms, and why."""

    package: str
    platforms: tuple[str, ...]
    reason: str

    def covers(self, platform: str) -> bool:
        return any(platform == p or platform.startswith(p + "_") for p in self.platforms)


def normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def parse_exceptions(text: str) -> list[Allowance]:
    """`package  platform[,platform…]  reason` lines; a platform is a key of PLATFORMS or its
    prefix (`musllinux`, `manylinux`); `#` starts a comment line."""
    found: list[Allowance] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=2)
        if len(parts) < 3:
            raise ValueError(f"line {number}: want `package platforms reason`: {raw!r}")
        package, platforms, reason = parts
        names = tuple(p for p in platforms.split(",") if p)
        for name in names:
            if not any(key == name or key.startswith(name + "_") for key in PLATFORMS):
                raise ValueError(f"line {number}: {name!r} names none of {', '.join(PLATFORMS)}")
        found.append(Allowance(normalize(package), names, reason))
    return found


def packages_without_wheels(lock: dict[str, Any]) -> dict[str, str]:
    """The packages of a pylock.toml with no wheel (uv lists only the target's), → version."""
    return {
        normalize(package["name"]): package.get("version", "?")
        for package in lock.get("packages", [])
        if not package.get("wheels")
    }


def judge(
    platform: str, lock: dict[str, Any], exceptions: Iterable[Allowance]
) -> tuple[list[str], list[str]]:
    """(problems, allowed) for one platform's resolution: `allowed` are the excepted packages
    with no wheel, each with its reason."""
    missing = packages_without_wheels(lock)
    resolved = {normalize(package["name"]) for package in lock.get("packages", [])}
    covering = {e.package: e for e in exceptions if e.covers(platform)}
    problems: list[str] = []
    allowed: list[str] = []
    for package, version in sorted(missing.items()):
        if package in covering:
            allowed.append(f"{package}=={version}: {covering[package].reason}")
        else:
            problems.append(f"{package}=={version} has no wheel for {platform}")
    for package in sorted(set(covering) - set(missing)):
        where = "has a wheel" if package in resolved else "is no longer required"
        problems.append(f"{package} {where} on {platform}: remove it there from {EXCEPTIONS.name}")
    return problems, allowed


def resolve(
    uv: str, uv_platform: str, requirements: list[str], constraints: Path
) -> dict[str, Any]:
    """uv's resolution of `requirements` for one platform, as a parsed pylock.toml."""
    with tempfile.TemporaryDirectory() as folder:
        given = Path(folder) / "requirements.in"
        given.write_text("\n".join(requirements) + "\n")
        lock = Path(folder) / "pylock.toml"
        command = [
            uv, "pip", "compile", "--quiet", "--no-header",
            "--python-platform", uv_platform, "--python-version", PYTHON_VERSION,
            "--constraint", str(constraints), str(given), "--output-file", str(lock),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip() or f"uv exited {done.returncode}")
        return tomllib.loads(lock.read_text())


def home_assistant_constraints() -> Path:
    import homeassistant

    return Path(homeassistant.__file__).parent / "package_constraints.txt"


def check(
    resolver: Callable[[str], dict[str, Any]], exceptions: list[Allowance]
) -> tuple[list[str], list[str]]:
    """(problems, report lines) over every platform, resolved in parallel."""
    with ThreadPoolExecutor(len(PLATFORMS)) as pool:
        futures = {name: pool.submit(resolver, uv) for name, uv in PLATFORMS.items()}
    problems: list[str] = []
    lines: list[str] = []
    for name, future in futures.items():
        try:
            lock = future.result()
        except RuntimeError as err:
            problems.append(f"{name}: the requirements do not resolve: {err}")
            continue
        found, allowed = judge(name, lock, exceptions)
        problems += found
        count = len(lock.get("packages", []))
        lines.append(f"{name}: {count} packages, {count - len(allowed)} with wheels")
        lines += [f"  no wheel, allowed: {entry}" for entry in allowed]
    return problems, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", required=True, help="the uv binary")
    args = parser.parse_args()
    requirements = json.loads(MANIFEST.read_text())["requirements"]
    exceptions = parse_exceptions(EXCEPTIONS.read_text())
    constraints = home_assistant_constraints()
    problems, lines = check(
        lambda uv_platform: resolve(args.uv, uv_platform, requirements, constraints), exceptions
    )
    from homeassistant.const import __version__

    print(f"manifest.json: {' '.join(requirements)}, under Home Assistant {__version__}'s pins")
    print("\n".join(lines))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
