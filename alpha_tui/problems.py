"""Things that went wrong but did not stop the run.

Every layer reports its skipped rows, unimplemented keys and non-finite values as
``Problem`` records so that nothing is dropped silently: the Overview pane, the
report and ``--json`` all list them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    kind: str  # e.g. "skipped-row", "unimplemented-keys", "non-finite", "config-inferred"
    id: str  # the crystal id, parameter group or file the problem is about ("" if global)
    reason: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        where = f" {self.id}" if self.id else ""
        return f"[{self.kind}]{where}: {self.reason}"
