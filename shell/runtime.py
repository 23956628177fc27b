"""The runtime every step runner shares: what steps run against and how they fail.

The runners (importer, pull, prepare, prune) import this module; the executor
(shell/execute.py) imports the runners and only dispatches. Keeping the shared
pieces here, below both, is what keeps the shell's import graph acyclic.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from returns.result import Failure, Success

from cogw.core.artifact.ranges import DEFAULT_STREAMS
from cogw.core.config.weights import ProjectConfig
from cogw.core.diagnostics import Diagnostic
from cogw.core.lock.lockfile import FILENAME as LOCK_FILENAME
from cogw.core.lock.lockfile import Lockfile, Shape, parse_lockfile_repairable
from cogw.core.plan.events import Event
from cogw.core.plan.outcome import StepResult, StepStatus
from cogw.core.plan.planner import Step
from cogw.shell.gather import Project
from cogw.shell.store import Store

if TYPE_CHECKING:
    from cogw.shell.import_early import EarlyPushes
    from cogw.shell.registry.protocol import Registry

EventSink = Callable[[Event], None]
RegistryFactory = Callable[[], "tuple[Registry, str]"]


@dataclass
class Runtime:
    """What steps run against. ``registry`` is called lazily: a fully cached pull
    or a prepare never constructs a registry client (nor imports requests)."""

    project: Project
    store: Store
    registry: RegistryFactory
    on_event: EventSink
    jobs: int = 4
    # Byte ranges fetched at once for one large layer (core/artifact/ranges.py); 1 = one stream.
    streams: int = DEFAULT_STREAMS
    # True when no number was asked for: a timed first range decides whether to split.
    streams_probe: bool = False
    link_mode: str = "hardlink"
    # How import places local source files into the store: "auto" reflinks where the
    # filesystem can, hardlinks read-only sources, else makes a verified copy.
    ingest_mode: str = "auto"
    cancel: threading.Event = field(default_factory=threading.Event)
    envelope: str = ""  # the envelopeFormat this build stamps (snapshot.envelope_format)
    # The config the plan was made from: which weights.lock shape a new file gets and
    # which entries an import's write keeps (None: keep the lockfile's own shape).
    config: ProjectConfig | None = None
    # The weights.lock shape an import writes (set by the importer once chosen): it
    # decides the tags and whether layer commits name their media type.
    shape: Shape = Shape.SOURCE
    # Uploads an import started while its plan was made, for its pushes to adopt.
    early: EarlyPushes | None = None
    # Per weight, each layer push's outcome ("uploaded", "exists", "mounted") and size:
    # what the result line says was sent.
    pushes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    _emit_lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, event: Event) -> None:
        # Workers run in threads; handlers are promised in-order, one at a time.
        with self._emit_lock:
            self.on_event(event)

    def record_push(self, weight: str, outcome: str, size: int) -> None:
        with self._emit_lock:
            self.pushes.setdefault(weight, []).append((outcome, size))


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
