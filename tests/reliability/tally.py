"""What the reliability suite saw: per case, how many runs and how each ended."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


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
