"""acme.ops filters."""

from __future__ import annotations


def load_score(load: object, cpus: int = 1) -> float:
    """The load average per CPU, rounded to two places."""
    return round(float(str(load)) / max(1, int(cpus)), 2)


class FilterModule:
    def filters(self) -> dict[str, object]:
        return {"load_score": load_score}
