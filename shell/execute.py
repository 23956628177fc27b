"""Execute: run a Plan's steps against the store, the registry and the disk.

Each step is idempotent and fails on its own: an exception inside a step is
caught here, once, and becomes a failed StepResult with a Diagnostic, so one
broken weight does not stop the others and the summary says exactly what
failed. Ctrl-C sets the cancel event, lets workers stop at their next read,
and propagates; temp files are cleaned by the store and fs primitives.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from returns.result import Failure, Success

from cogw.core.config import ProjectConfig
from cogw.core.diagnostics import Diagnostic
from cogw.core.events import Event
from cogw.core.lockfile import FILENAME as LOCK_FILENAME
from cogw.core.lockfile import Lockfile, parse_lockfile_repairable, render_lockfile, retain
from cogw.core.outcome import StepResult, StepStatus
from cogw.core.plan import FetchLayer, ImportWeight, LinkWeight, Plan, PruneLockEntry, Step
from cogw.shell.fs import atomic_write, project_lock
from cogw.shell.gather import Project
from cogw.shell.store import Store

if TYPE_CHECKING:
    from cogw.shell.registry import RegistryClient

EventSink = Callable[[Event], None]
RegistryFactory = Callable[[], "tuple[RegistryClient, str]"]


@dataclass
class Runtime:
    """What steps run against. ``registry`` is called lazily: a fully cached pull
    or a prepare never constructs a registry client (nor imports requests)."""

    project: Project
    store: Store
    registry: RegistryFactory
    on_event: EventSink
    jobs: int = 4
    link_mode: str = "hardlink"
    # How import places local source files into the store: "auto" reflinks where the
    # filesystem can, hardlinks read-only sources, else makes a verified copy.
    ingest_mode: str = "auto"
    cancel: threading.Event = field(default_factory=threading.Event)
    mounts: list[tuple[str, str]] = field(
        default_factory=list
    )  # (host dir, target) made by prepare
    envelope: str = ""  # the envelopeFormat this build stamps (snapshot.envelope_format)
    # The config the plan was made from: which weights.lock shape a new file gets and
    # which entries an import's write keeps (None: keep the lockfile's own shape).
    config: ProjectConfig | None = None
    _emit_lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, event: Event) -> None:
        # Workers run in threads; handlers are promised in-order, one at a time.
        with self._emit_lock:
            self.on_event(event)


@contextlib.contextmanager
def cancel_on_interrupt(cancel: threading.Event) -> Iterator[None]:
    """Set ``cancel`` when Ctrl-C leaves the block, so workers of a thread pool
    opened around it stop at their next read before the pool waits for them.
    Ordinary errors do not cancel: one failing weight must not stop the others."""
    try:
        yield
    except KeyboardInterrupt:
        cancel.set()
        raise


def failure(step: Step, exc: BaseException, summary: str | None = None) -> StepResult:
    text = summary or str(exc) or exc.__class__.__name__
    return StepResult(step, StepStatus.FAILED, diagnostic=Diagnostic(text, subject=step.weight))


def execute(plan: Plan, rt: Runtime) -> list[StepResult]:
    """Run every step of an applyable plan, in the order imports → prune → fetch → link."""
    steps = list(plan.steps)
    results: dict[int, StepResult] = {}
    for kind in (ImportWeight, PruneLockEntry, FetchLayer, LinkWeight):
        group = [(i, s) for i, s in enumerate(steps) if isinstance(s, kind)]
        if group:
            ran = _run_group(kind, [s for _, s in group], rt, list(results.values()))
            results.update(zip([i for i, _ in group], ran, strict=True))
    return [results[i] for i in range(len(steps))]


def _run_group(
    kind: type, steps: list[Any], rt: Runtime, earlier: list[StepResult]
) -> list[StepResult]:
    # Runners are imported lazily: a prepare never loads the registry client.
    if kind is ImportWeight:
        from cogw.shell.importer import run_imports

        return run_imports(steps, rt)
    if kind is PruneLockEntry:
        return run_prunes(steps, rt)
    if kind is FetchLayer:
        from cogw.shell.pull import run_fetches

        return run_fetches(steps, rt)
    from cogw.shell.prepare import run_links

    blocked = {r.step.weight for r in earlier if r.status is StepStatus.FAILED}
    return run_links(steps, rt, blocked)


def run_prunes(steps: Sequence[PruneLockEntry], rt: Runtime) -> list[StepResult]:
    """Remove entries under the project lock, re-reading weights.lock first so a
    concurrent import's write is not lost; no rewrite when nothing changes."""
    try:
        with project_lock(rt.project.dir):
            lock = read_lock_strict(rt.project)
            names = {s.weight for s in steps}
            present = {e.name for e in lock.weights}
            kept = retain(lock, [e.name for e in lock.weights if e.name not in names])
            if present & names:
                atomic_write(rt.project.lock_path, render_lockfile(kept))
    except FileNotFoundError:
        present = set()
    except Exception as exc:
        return [failure(s, exc) for s in steps]
    return [
        StepResult(s, StepStatus.DONE)
        if s.weight in present
        else StepResult(s, StepStatus.SKIPPED, "already absent")
        for s in steps
    ]


class ProblemsError(Exception):
    """Diagnostics raised inside a step (e.g. weights.lock became invalid meanwhile)."""

    def __init__(self, problems: Sequence[Diagnostic]) -> None:
        super().__init__(
            "; ".join(f"{p.subject}: {p.summary}" if p.subject else p.summary for p in problems)
        )
        self.problems = tuple(problems)


def read_lock_strict(project: Project) -> Lockfile:
    """weights.lock as it is now, inside a prune or import step: a missing file raises
    FileNotFoundError and a broken one ProblemsError. A repairable problem (two
    entries for one target) is let through: these steps are what repair it."""
    match parse_lockfile_repairable(project.lock_path.read_bytes(), LOCK_FILENAME):
        case Success((lock, _)):
            return lock  # type: ignore[no-any-return]  # returns' match loses the type
        case Failure(problems):
            raise ProblemsError(problems)
    raise AssertionError("unreachable")


def run_parallel(
    items: Sequence[Any], work: Callable[[Any], StepResult], rt: Runtime
) -> list[StepResult]:
    """Run ``work`` on each item on a bounded pool; Ctrl-C cancels the rest."""
    if not items:
        return []
    pool = ThreadPoolExecutor(max_workers=max(1, min(rt.jobs, len(items))))
    futures: list[Future[StepResult]] = [pool.submit(work, item) for item in items]
    try:
        wait(futures)
    except BaseException:
        rt.cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [f.result() for f in futures]
