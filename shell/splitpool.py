"""Work on a pool of threads and on the calling thread at once, stopped together.

:func:`run_on_files` splits files by size for it and reads the small ones ahead. The
indices in ``pooled`` run on up to ``jobs`` threads while those in ``here`` run
one after another on the calling thread (:mod:`cogw.core.plan.workers` says which
is which). The work checks ``failed`` at each read: the first failure on either
side sets it, so the rest stop soon instead of finishing every item first, and the
failure reported is that first real one, never the cancellations it caused.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TypeVar

from cogw.core.plan.workers import split_for_pool, wants_readahead
from cogw.shell.readahead import ReadAhead, readahead_available

T = TypeVar("T")
#: What the work raises when it stopped because ``failed`` was set; () when it never stops.
Cancellation = type[BaseException] | tuple[type[BaseException], ...]


def run_split(
    pooled: Sequence[int],
    here: Sequence[int],
    one: Callable[[int], T],
    jobs: int,
    failed: threading.Event,
    cancelled: Cancellation,
    name: str = "split",
    progress: Callable[[int], None] | None = None,
) -> dict[int, T]:
    """``one`` of each index, keyed by index. ``cancelled`` is what ``one`` raises when
    it stopped because ``failed`` was set; ``name`` names the pool's threads;
    ``progress`` is told how many of ``here`` are done after each."""
    if not pooled or (len(pooled) == 1 and not here):
        return _here([*pooled, *here], one, failed, (), cancelled, progress)
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix=name) as pool:
        futures = [pool.submit(one, i) for i in pooled]
        for future in futures:
            future.add_done_callback(functools.partial(_stop_on_failure, failed))
        try:
            done = _here(here, one, failed, futures, cancelled, progress)
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            # No-op when all succeeded; after a failure or Ctrl-C it stops the rest
            # at their next read instead of running every submitted item first.
            failed.set()
        wait(futures)
    raise_first_failure(futures, cancelled)
    done.update((i, f.result()) for i, f in zip(pooled, futures, strict=True))
    return done


def run_on_files(
    paths: Sequence[str | Path],
    sizes: Sequence[int | None],
    one: Callable[[int], T],
    jobs: int,
    failed: threading.Event,
    cancelled: Cancellation,
    name: str = "split",
) -> dict[int, T]:
    """``one`` of each position of ``paths`` (files of ``sizes``): the large files on the
    pool, the small ones here, read ahead (:mod:`cogw.core.plan.workers` decides both)."""
    pooled, here = split_for_pool(sizes, jobs)
    progress = None
    if wants_readahead(len(here), readahead_available()):
        progress = ReadAhead([paths[i] for i in here]).reached
    return run_split(pooled, here, one, jobs, failed, cancelled, name, progress)


def _stop_on_failure(failed: threading.Event, future: Future[T]) -> None:
    if not future.cancelled() and future.exception() is not None:
        failed.set()


def _here(
    indices: Sequence[int],
    one: Callable[[int], T],
    failed: threading.Event,
    pooled: Sequence[Future[T]],
    cancelled: Cancellation,
    progress: Callable[[int], None] | None,
) -> dict[int, T]:
    """``one`` of each index on this thread. Stopped by a pool worker's failure, it
    reports that failure, not its own cancellation."""
    done: dict[int, T] = {}
    try:
        for i in indices:
            done[i] = one(i)
            if progress is not None:
                progress(len(done))
        return done
    except cancelled:
        if pooled and failed.is_set():
            wait(pooled)
            raise_first_failure(pooled, cancelled)
        raise
    except BaseException:
        failed.set()
        raise


def raise_first_failure(futures: Sequence[Future[T]], cancelled: Cancellation) -> None:
    """Raise the first real failure among ``futures``, else the first cancellation."""
    errors = [e for f in futures if (e := f.exception()) is not None]
    real = [e for e in errors if not isinstance(e, cancelled)]
    if real:
        raise real[0]
    if errors:
        raise errors[0]
