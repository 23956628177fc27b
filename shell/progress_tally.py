"""Bytes done per progress bar, never past the bar's total.

Every way of drawing progress (rich bars, plain lines, JSON lines) counts through a
Tally, so they agree: a layer's bar is bounded by the layer's size, a phase's by the
bytes its PHASE events announced (a phase announced twice, as direct and packed
pushes are, adds up), and the download total by the plan's layer sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

from cogw.core.digest import short_digest
from cogw.core.plan.events import SKIPPED_PUSHES, Event, EventKind

#: The order an import's phases begin in. A phase starting ends the phases before it,
#: never one after it.
PHASE_ORDER = ("hash", "pack", "push", "record")
#: Phases that run beside the ordered ones: the store copy (ingest) runs while a large
#: local file is pushed from its source and while bundles are packed from it. Its start
#: ends no other phase's bar, and only recording ends its bar.
BESIDE = ("ingest",)
TOTAL = "\0total"  # key of the all-layers download bar; no layer digest or weight looks like it


@dataclass
class Count:
    label: str
    total: int | None
    done: int = 0
    finished: bool = False
    weight: str = ""
    phase: str = ""
    layer: str = ""
    skipped: int = 0  # layers the registry already had (push bars)

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None


def _ends(starting: str, running: str) -> bool:
    """Whether phase ``starting`` beginning means phase ``running`` is over."""
    if starting in BESIDE:
        return False
    if running in BESIDE:
        return starting == "record"
    if starting not in PHASE_ORDER or running not in PHASE_ORDER:
        return True
    return PHASE_ORDER.index(running) < PHASE_ORDER.index(starting)


class Tally:
    """The counters the progress events describe, clamped to their totals."""

    def __init__(self, download_total: int = 0) -> None:
        self.counts: dict[str, Count] = {}
        if download_total:
            self.counts[TOTAL] = Count("total", download_total)

    def _open(self, key: str, count: Count) -> None:
        if key not in self.counts:
            self.counts[key] = count

    def _add(self, key: str, n: int) -> bool:
        count = self.counts.get(key)
        if count is None:
            return False
        done = count.done + n
        count.done = min(done, count.total) if count.total else done
        return True

    def finish(self, key: str) -> None:
        count = self.counts.get(key)
        if count is not None:
            count.done = count.total or count.done
            count.finished = True

    def _phase(self, e: Event) -> list[str]:
        if not e.weight:  # the download phase: its total may come from the plan already
            self._open(TOTAL, Count("total", e.nbytes or None))
            if e.message:
                self.counts[TOTAL].label = f"total ({e.message})"
            return [TOTAL]
        key = f"{e.weight}/{e.phase}"
        ended = [
            other
            for other, count in self.counts.items()
            if other.startswith(f"{e.weight}/")
            and other != key
            and not count.finished
            and _ends(e.phase, count.phase)
        ]
        for other in ended:  # the next phase starting ends the earlier ones
            self.finish(other)
        if key in self.counts:
            count = self.counts[key]
            count.total = (count.total or 0) + e.nbytes or None
            count.finished = False
        else:
            self.counts[key] = Count(
                f"{e.weight} {e.phase}", e.nbytes or None, weight=e.weight, phase=e.phase
            )
        return [*ended, key]

    def observe(self, e: Event) -> list[str]:
        """Update the counters from one event; the keys whose counts changed."""
        k = e.kind
        if k is EventKind.LAYER_START and not e.phase:
            label = f"{e.weight} {short_digest(e.layer_digest)}"
            self._open(
                e.layer_digest,
                Count(label, e.layer_size or None, weight=e.weight, layer=e.layer_digest),
            )
            return [e.layer_digest]
        if k is EventKind.LAYER_DONE:
            self.finish(e.layer_digest)
            return [e.layer_digest]
        if k is EventKind.PHASE:
            return self._phase(e)
        if k is EventKind.BYTES:
            return self._bytes(e)
        if k is EventKind.PUSH_BLOB and e.message in SKIPPED_PUSHES:
            return self._not_sent(e)
        return []

    def _not_sent(self, e: Event) -> list[str]:
        """A layer the registry already had: its bytes leave the push bar's total, so the
        bar counts only what is uploaded, and its label says how many were skipped."""
        key = f"{e.weight}/push"
        count = self.counts.get(key)
        if count is None:
            return []
        count.skipped += 1
        count.total = max(count.done, (count.total or 0) - e.layer_size)
        count.label = f"{e.weight} push ({count.skipped} already in the registry)"
        return [key]

    def _bytes(self, e: Event) -> list[str]:
        changed = []
        if e.phase:
            key = f"{e.weight}/{e.phase}"
            if self._add(key, e.nbytes):
                changed.append(key)
        elif self._add(e.layer_digest, e.nbytes):
            changed.append(e.layer_digest)
        if not e.phase and self._add(TOTAL, e.nbytes):  # download bytes feed the total too
            changed.append(TOTAL)
        return changed

    def all_layers_finished(self) -> bool:
        layers = [c for c in self.counts.values() if c.layer]
        return bool(layers) and all(c.finished for c in layers)
