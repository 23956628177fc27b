"""An OCI distribution client: manifests and blobs over HTTP(S), with auth, retries and resume.

What it knows: the OCI distribution API as CNCF distribution, Docker Hub and the cloud
registries speak it — Basic and Bearer (token server) auth from a ``WWW-Authenticate``
challenge, blob GETs resumed with ``Range`` after a reset or a stall, monolithic and
chunked uploads, cross-repository mounts, manifests by tag or digest. Every byte it moves is
hashed: a blob or manifest whose digest differs from the one asked for is an error, and an
upload whose stream does not match its digest is cancelled before the commit. A server that
ignores ``Range`` on a resume is read again from the start, the bytes already delivered
dropped. Cancelling (a caller's ``cancel`` Event, or ``abort()``) is prompt: the socket of
the request in flight is shut down, so a read or write blocked on a stalled peer fails at
once, and the operation raises RegistryCancelled instead of retrying.

What it does not know: what a weight, a lockfile or a layer *means*; where credentials come
from (``credentials``); progress bars (callers pass ``on_bytes``). The protocol's pure rules
(challenges, scopes, error bodies, Retry-After, ranges, backoff, which failures to retry)
are in ``cogw.core.registryrules``.

Why not plain ``requests`` behaviour: redirects are followed by hand so an Authorization
header never reaches another host (blob storage); TLS verification always uses the CA
bundle given here, because requests lets ``REQUESTS_CA_BUNDLE`` silently override a
session's ``verify``; plain HTTP is used only for loopback hosts or hosts the user listed as
insecure — never as a silent fallback (Cog v0.19.3 falls back to HTTP for any registry).

The package, by concept:

    protocol       the ``Registry`` protocol the runners use; Manifest, PushResult, media types
    client         RegistryClient: the public operations, validated and digest-checked
    transport      one request: scheme, redirects, retries with backoff, status errors
    authorization  challenge → Basic value or Bearer token, cached per scope set
    credentials    where usernames and passwords come from (environment, docker config)
    cancel         prompt cancellation: transfers and the watcher that aborts them
    connections    sessions whose connections tell the current transfer their socket
    download       blob bodies in pieces, hashed in the background, resumed with Range
    upload         push: exists, mount, monolithic PUT, restarts of a failed session
    chunked        PATCH-per-chunk uploads resumed from the registry's offset
    streams        hashing readers and sized bodies for uploads
    errors, options, urls

This package imports requests; ``cogw --help`` must not pay for it, so import it lazily
(annotations name ``protocol.Registry`` under ``TYPE_CHECKING``).
"""

from __future__ import annotations

from cogw.shell.registry.client import RegistryClient
from cogw.shell.registry.errors import (
    RegistryAuthError,
    RegistryCancelled,
    RegistryDigestMismatch,
    RegistryError,
    RegistryNotFound,
    RegistryTLSError,
)
from cogw.shell.registry.options import RegistryOptions, RetryNotice
from cogw.shell.registry.protocol import (
    ACCEPT_MANIFESTS,
    MAX_MANIFEST_BYTES,
    MEDIA_DOCKER_LIST,
    MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_INDEX,
    MEDIA_OCI_MANIFEST,
    Manifest,
    PushResult,
    Registry,
)

__all__ = [
    "ACCEPT_MANIFESTS",
    "MAX_MANIFEST_BYTES",
    "MEDIA_DOCKER_LIST",
    "MEDIA_DOCKER_MANIFEST",
    "MEDIA_OCI_INDEX",
    "MEDIA_OCI_MANIFEST",
    "Manifest",
    "PushResult",
    "Registry",
    "RegistryAuthError",
    "RegistryCancelled",
    "RegistryClient",
    "RegistryDigestMismatch",
    "RegistryError",
    "RegistryNotFound",
    "RegistryOptions",
    "RegistryTLSError",
    "RetryNotice",
]
