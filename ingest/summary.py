"""Run counters: every stage outcome and every drop, labelled by reason.

Why: "every drop increments a counter labelled with its reason" (Media Cloud's rule). A
``RunSummary`` is plain data, JSON-ready for XCom, and mergeable with ``+`` so the DAG can add
up the results of its mapped tasks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STAGES = ("sources_polled", "sources_failed", "feeds_malformed", "items_seen", "new", "fetched", "extracted",
          "indexed", "duplicates", "also_carried")


@dataclass(frozen=True)
class RunSummary:
    """Stage counts, plus skipped and failed items by reason (``stage:reason`` labels)."""

    counts: Mapping[str, int] = field(default_factory=dict)
    skipped: Mapping[str, int] = field(default_factory=dict)
    failed: Mapping[str, int] = field(default_factory=dict)

    def __add__(self, other: RunSummary) -> RunSummary:
        return RunSummary(_add(self.counts, other.counts), _add(self.skipped, other.skipped),
                          _add(self.failed, other.failed))

    def count(self, stage: str) -> int:
        return int(self.counts.get(stage, 0))

    @property
    def total_failed(self) -> int:
        return sum(self.failed.values())

    def to_json_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "skipped": dict(self.skipped), "failed": dict(self.failed)}

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> RunSummary:
        return cls(dict(data.get("counts", {})), dict(data.get("skipped", {})), dict(data.get("failed", {})))

    def lines(self) -> list[str]:
        """Human-readable summary, one line per stage and per reason."""
        out = [f"{stage:<16}{self.count(stage):>7}" for stage in STAGES]
        out += [f"skipped {reason:<30}{n:>7}" for reason, n in sorted(self.skipped.items())]
        out += [f"failed  {reason:<30}{n:>7}" for reason, n in sorted(self.failed.items())]
        return out


def summary(*, skipped: Mapping[str, int] | None = None, failed: Mapping[str, int] | None = None,
            **counts: int) -> RunSummary:
    """Convenience constructor: ``summary(fetched=3, failed={"fetch:http_404": 1})``."""
    return RunSummary({k: v for k, v in counts.items() if v}, dict(skipped or {}), dict(failed or {}))


def _add(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    total: Counter[str] = Counter(a)
    total.update(b)
    return dict(total)
