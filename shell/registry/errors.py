"""What a registry operation raises. Messages never contain credentials or tokens."""

from __future__ import annotations

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


def tls_failure(registry: str, err: BaseException) -> RegistryTLSError:
    """What a failed TLS connection to ``registry`` tells the user (and how to fix it)."""
    reason = (
        "certificate verification failed"
        if "CERTIFICATE_VERIFY" in str(err)
        else ("TLS handshake failed")
    )
    return RegistryTLSError(
        f"cannot connect to {registry} over HTTPS: {reason}. If the registry uses a "
        "private CA, pass its certificate as a CA bundle (--ca-bundle FILE, or "
        "COGW_CA_BUNDLE=FILE)"
    )


def is_certificate_problem(err: BaseException) -> bool:
    text = str(err)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower()
