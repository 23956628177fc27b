"""How to reach registries (``RegistryOptions``) and what a retry tells its listener."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cogw.core.registry.registryrules import MAX_BACKOFF_SECONDS

MONOLITHIC_LIMIT = 32 * 1024 * 1024
CHUNK_SIZE = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RetryNotice:
    """Told to ``RegistryOptions.on_retry`` before each wait (for progress displays)."""

    what: str
    attempt: int  # the attempt that failed, from 1
    max_attempts: int
    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class RegistryOptions:
    """How to reach registries.

    insecure_hosts:   hosts (host[:port]) that may be reached over plain HTTP.
    ca_bundle:        PEM file of CAs to trust instead of the system store.
    max_retries:      retries after the first attempt, per request and per blob.
    backoff_base:     first retry delay in seconds; doubles per retry, plus up to 25% jitter.
    retry_after_cap:  the longest a Retry-After header may make us wait.
    deadline:         seconds one request (or one blob) may spend retrying in all.
    monolithic_limit: blobs up to this size go in one verified PUT; larger ones in chunks.
    chunk_size:       PATCH size, clamped to the registry's OCI-Chunk-Min/Max-Length.
    pool_size:        connections kept per host (parallel layer transfers).
    on_retry:         told about every retry before its wait (progress displays).
    """

    insecure_hosts: frozenset[str] = frozenset()
    ca_bundle: str | None = None
    connect_timeout: float = 10
    read_timeout: float = 60
    max_retries: int = 4
    backoff_base: float = 0.5
    retry_after_cap: float = MAX_BACKOFF_SECONDS
    deadline: float = 300
    monolithic_limit: int = MONOLITHIC_LIMIT
    chunk_size: int = CHUNK_SIZE
    pool_size: int = 32
    on_retry: Callable[[RetryNotice], None] | None = field(default=None, compare=False)


DEFAULT_OPTIONS = RegistryOptions()
