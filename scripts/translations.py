"""Write translations/en.json from strings.json, resolving Home Assistant's [%key:...%] references.

Custom integrations get no build step that resolves them, so the shipped English file must hold
the final text. Run with --check to fail when en.json is stale (the test suite does).
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import sys
from typing import Any

import homeassistant

ROOT = Path(__file__).resolve().parent.parent
COMPONENT = ROOT / "custom_components" / "aiy_realtime"
REFERENCE = re.compile(r"\[%key:([a-z0-9_:]+)%\]")


def _lookup(tree: dict[str, Any], path: str) -> str:
    node: Any = tree
    for part in path.split("::"):
        node = node[part]
    if not isinstance(node, str):
        raise KeyError(path)
    return node


def resolve(strings: dict[str, Any]) -> dict[str, Any]:
    """Return `strings` with every reference replaced by the text it names."""
    core = json.loads((Path(homeassistant.__file__).parent / "strings.json").read_text())
    common = {"common": core["common"]}

    def text(value: str) -> str:
        return REFERENCE.sub(lambda m: _lookup(common, m.group(1)), value)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, str):
            return text(node)
        return node

    result: dict[str, Any] = walk(strings)
    return result


def rendered() -> str:
    strings = json.loads((COMPONENT / "strings.json").read_text())
    return json.dumps(resolve(strings), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    target = COMPONENT / "translations" / "en.json"
    if "--check" in sys.argv:
        if target.read_text() != rendered():
            print("translations/en.json is stale: run scripts/translations.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(rendered())
    return 0


if __name__ == "__main__":
    sys.exit(main())
