"""Which files are worth a worker thread, and which are done in order on the caller's;
how those are read ahead, and how large a buffer a file is read into.

Hashing or copying a file lets other threads run only inside the C calls that move
its bytes (hashlib, read, write). What else a file costs (open, stat, create, close
and the interpreter between them) holds the GIL, or is a system call too short to
overlap anything. For a small file that is nearly all of it, so several threads only
queue for the lock, and every hand-over costs more than the file: on 2 cores, 4 000
files of 4 KiB hash in 58 ms on one thread and in 193 ms on four. From about 64 KiB
a file's bytes are where its time goes, and those do run in parallel (2 000 files of
64 KiB: 108 ms on one thread, 84 ms on two).

So the large files go to the pool, and the small ones are done one after another on
the calling thread meanwhile, where they only take the lock between the pool's reads.

One thread reading small files that are not in the page cache waits for the disk at
each one. Asking the kernel to start reading the file some places ahead before each
read keeps the disk busy instead (10 000 files of 4 B-100 KiB, after their walk:
hashed in 1.15 s cold and 0.21-0.26 s warm; with the read-ahead 0.45 s and 0.23 s).
"""

from __future__ import annotations

from collections.abc import Sequence

#: A file at least this large spends most of its time where threads run in parallel.
POOL_MIN_BYTES = 64 * 1024


def split_for_pool(
    sizes: Sequence[int | None], jobs: int, pool_min: int = POOL_MIN_BYTES
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The indices of ``sizes`` for the pool and those for the calling thread, each in
    input order. An unknown size (None) counts as large: the pool is then no worse than
    before anything was known. With one job there is no pool.

    >>> split_for_pool([10, 1 << 20, None, 3], jobs=4)
    ((1, 2), (0, 3))
    >>> split_for_pool([1 << 20, 1 << 20], jobs=1)
    ((), (0, 1))
    """
    if jobs <= 1:
        return (), tuple(range(len(sizes)))
    pool = tuple(i for i, size in enumerate(sizes) if size is None or size >= pool_min)
    here = tuple(i for i, size in enumerate(sizes) if size is not None and size < pool_min)
    return pool, here


#: Fewer small files than this are read without read-ahead: there is no queue to keep
#: the disk busy with.
READAHEAD_MIN_FILES = 16
#: How many files ahead of the one being read the read-ahead asks for: enough to keep
#: the disk busy (16 and 256 measured the same), few enough that the pages are still
#: cached when the reader gets there.
READAHEAD_LEAD = 32


def wants_readahead(files_here: int, available: bool) -> bool:
    """Whether the calling thread's small files are read ahead; ``available`` says
    this system can ask for read-ahead at all (``posix_fadvise``).

    >>> wants_readahead(10_000, True), wants_readahead(3, True), wants_readahead(10_000, False)
    (True, False, False)
    """
    return available and files_here >= READAHEAD_MIN_FILES


#: The smallest read buffer: a file that grows while it is read is still read in pieces
#: of at least this size (and then refused as changed).
MIN_READ_BUFFER = 4 << 10


def read_buffer_size(size: int, largest: int) -> int:
    """A read buffer for a file of ``size`` bytes: as large as the file and one byte more
    (which shows its end), at least MIN_READ_BUFFER, at most ``largest``. A fresh 1 MiB
    buffer per small file cost more than hashing it (14 us to make, against 0.4 us for
    4 KiB), and a weight can hold 10 000 of them.

    >>> [read_buffer_size(size, 1 << 20) for size in (10, 100_000, 5 << 20)]
    [4096, 100001, 1048576]
    """
    return min(largest, max(size + 1, MIN_READ_BUFFER))
