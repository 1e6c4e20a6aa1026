"""The leakage ledger: every bit disclosed on the classical channel for one block, in one place."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LeakageLedger:
    """Counts disclosed bits by kind (``syndrome``, ``revealed``, ``verification``, ...).

    The finite-key length uses :attr:`total` as lambda_EC; nothing else may be subtracted twice.
    """

    entries: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, bits: int) -> None:
        if bits < 0:
            raise ValueError(f"leakage for {kind!r} must be >= 0, got {bits}")
        self.entries[kind] = self.entries.get(kind, 0) + int(bits)

    @property
    def total(self) -> int:
        return sum(self.entries.values())

    def as_dict(self) -> dict[str, int]:
        return dict(self.entries, total=self.total)
