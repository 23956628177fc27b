"""What a registry operation raises. Messages never contain credentials or tokens."""

from __future__ import annotations

from cogw.core.registry.registryfaults import tls_hint
from cogw.shell.redaction import scrub


class RegistryError(Exception):
    """A registry operation failed; ``status`` is the HTTP status and ``code`` the OCI error
    code when the registry sent them. Messages never contain credentials or tokens."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(scrub(message))
        self.status = status
        self.code = code


class RegistryAuthError(RegistryError):
    pass


class RegistryNotFound(RegistryError):
    pass


class RegistryTLSError(RegistryError):
    pass


class RegistryDigestMismatch(RegistryError):
    pass


class RegistryCancelled(RegistryError):
    pass


class RegistryBusy(RegistryError):
    """A transient answer (429, 5xx) from a server the transport does not retry itself,
    such as a token server; ``retry_after`` is its Retry-After in seconds, if any."""

    def __init__(self, message: str, *, status: int, retry_after: float | None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


def tls_failure(registry: str, err: BaseException) -> RegistryTLSError:
    """What a failed TLS connection to ``registry`` tells the user (and how to fix it)."""
    certificate = "CERTIFICATE_VERIFY" in str(err)
    reason = "certificate verification failed" if certificate else "TLS handshake failed"
    hint = tls_hint(registry, certificate)
    return RegistryTLSError(
        f"cannot connect to {registry} over HTTPS: {reason}. {hint[0].upper()}{hint[1:]}"
    )


def is_certificate_problem(err: BaseException) -> bool:
    text = str(err)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower()
