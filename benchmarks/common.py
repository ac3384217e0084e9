"""What both benchmarks share: percentiles, and writing a result where the README shows it."""

from __future__ import annotations

import json
from pathlib import Path
import statistics
import time
from typing import Any


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def publish(output: Path, title: str, how: str, table: str, results: dict[str, Any]) -> None:
    """Print the table and the numbers, and write both to `output` (a Markdown page)."""
    print(table)
    print(json.dumps(results))
    stamp = time.strftime("%Y-%m-%d")
    output.write_text(
        f"# {title}\n\nMeasured by `scripts/bench` on {stamp}, one run, {how}.\n\n{table}\n\n"
        f"```json\n{json.dumps(results, indent=2)}\n```\n"
    )
