"""Contenders run in turn, repetition by repetition (ABCABC…, never AAA BBB).

Interleaving makes a slow minute of a shared machine hit every contender of a
repetition alike, instead of making one contender look slow. Knows the order and
how to run contenders in it; does not know what they run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.measure import Run


@dataclass(frozen=True, slots=True)
class Contender:
    name: str
    timed: Callable[[], Run]  # one timed run; it does its own untimed set-up first


def interleaved_order(names: Sequence[str], reps: int) -> list[tuple[int, str]]:
    """(repetition, name) in running order: every contender once per repetition."""
    return [(rep, name) for rep in range(reps) for name in names]


def run_interleaved(contenders: Sequence[Contender], reps: int) -> dict[str, tuple[Run, ...]]:
    """Each contender's runs, taken in :func:`interleaved_order`."""
    by_name = {c.name: c for c in contenders}
    runs: dict[str, list[Run]] = {c.name: [] for c in contenders}
    for _, name in interleaved_order([c.name for c in contenders], reps):
        runs[name].append(by_name[name].timed())
    return {name: tuple(taken) for name, taken in runs.items()}
