"""What the reliability suite saw: per case, how many runs and how each ended."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.keyscan import KeyScan


@dataclass
class Tally:
    cases: dict[str, Counter[str]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    looked: Counter[str] = field(default_factory=Counter)
    """Where the API key was looked for, and how many things there."""

    def count(self, case: str, outcome: str, times: int = 1) -> None:
        if case not in self.cases:
            self.cases[case] = Counter()
            self.order.append(case)
        self.cases[case][outcome] += times

    def to_data(self) -> dict[str, object]:
        """As plain data: a pytest-xdist worker hands it to the controller."""
        return {
            "order": list(self.order),
            "cases": {case: dict(outcomes) for case, outcomes in self.cases.items()},
            "looked": dict(self.looked),
        }

    def add(self, data: dict[str, object]) -> None:
        """Another process's tally (`to_data`), counted in."""
        cases: dict[str, dict[str, int]] = data["cases"]  # type: ignore[assignment]
        for case in data["order"]:  # type: ignore[attr-defined]
            for outcome, times in cases[case].items():
                self.count(case, outcome, times)
        self.looked.update(data["looked"])  # type: ignore[arg-type]

    def table(self) -> str:
        lines = ["| case | runs | outcomes |", "|---|---|---|"]
        for case in self.order:
            outcomes = self.cases[case]
            said = ", ".join(f"{outcome}: {n}" for outcome, n in outcomes.most_common())
            lines.append(f"| {case} | {sum(outcomes.values())} | {said} |")
        total = sum(sum(c.values()) for c in self.cases.values())
        lines.append(f"| **all** | **{total}** | every run ended in one of the outcomes named |")
        if self.looked:
            lines += ["", "| the API key looked for in | items | found |", "|---|---|---|"]
            lines += [f"| {where} | {n} | 0 |" for where, n in self.looked.items()]
        return "\n".join(lines)

    def write(self, path: Path, command: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "# Reliability suite\n\n"
            f"Made by `{command}` (tests/reliability/): real Home Assistant, real loopback "
            "WebRTC to the local peer, a real PulseAudio server for the voice cases. A run that "
            "ended any other way (an exception out of Home Assistant, an error in its log, a "
            "session or process left behind, the key found somewhere) fails the suite.\n\n"
            f"{self.table()}\n"
        )


TALLY = Tally()


def count_the_scan(scan: KeyScan) -> None:
    """What the key scan looked through, into the tally (where the key was found, the test
    that found it failed, and nothing is counted)."""
    if not scan.found:
        TALLY.looked.update(scan.seen)
    scan.seen.clear()
