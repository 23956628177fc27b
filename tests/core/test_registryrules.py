"""The OCI distribution protocol's pure rules: challenges, scopes, answers, retries."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cogw.core.registry.registryrules import (
    MAX_BACKOFF_SECONDS,
    RETRYABLE_STATUSES,
    FailureKind,
    content_range_start,
    kept_bytes,
    media_type_in,
    oci_error,
    parse_challenge,
    positive_int,
    pull_scope,
    push_scope,
    range_end,
    reference_error,
    registry_scheme,
    retry_after_seconds,
    retry_delay,
    token_scopes,
    transport_reason,
    upload_chunk_size,
    worth_restarting,
    worth_resuming,
)

# ---- authentication ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "insecure", "scheme"),
    [
        ("registry.example.com", frozenset(), "https"),
        ("registry.example.com:5000", frozenset(), "https"),
        ("10.1.2.3:5000", frozenset(), "https"),
        ("registry.example.com:5000", frozenset({"registry.example.com:5000"}), "http"),
        ("127.0.0.1:5000", frozenset(), "http"),
        ("127.9.9.9", frozenset(), "http"),
        ("localhost:5000", frozenset(), "http"),
        ("[::1]:5000", frozenset(), "http"),
    ],
    ids=[
        "public-host",
        "public-host-with-port",
        "private-ip",
        "listed-insecure",
        "loopback-ip",
        "loopback-range",
        "localhost",
        "ipv6-loopback",
    ],
)
def test_plain_http_is_allowed_only_for_loopback_or_insecure_hosts(
    host: str, insecure: frozenset[str], scheme: str
) -> None:
    assert registry_scheme(host, insecure) == scheme


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        ('Basic realm="cogw-test"', "basic", {"realm": "cogw-test"}),
        (
            'Bearer realm="http://h/token",service="reg",scope="repository:a/b:pull,push"',
            "bearer",
            {"realm": "http://h/token", "service": "reg", "scope": "repository:a/b:pull,push"},
        ),
        (
            'Bearer realm="x", error="insufficient_scope", scope="repository:a:pull"',
            "bearer",
            {"realm": "x", "error": "insufficient_scope", "scope": "repository:a:pull"},
        ),
        ('Bearer realm="a \\"quoted\\" b"', "bearer", {"realm": 'a "quoted" b'}),
    ],
    ids=["basic", "bearer-with-scope", "spaces-and-error", "escaped-quotes"],
)
def test_challenge_header_is_parsed_into_scheme_and_parameters(
    header: str, scheme: str, params: dict[str, str]
) -> None:
    challenge = parse_challenge(header)
    assert challenge is not None
    assert (challenge.scheme, challenge.params) == (scheme, params)


@given(
    st.dictionaries(
        st.sampled_from(["realm", "service", "scope", "error"]),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
        min_size=1,
    )
)
def test_any_quoted_challenge_parameters_parse_back_to_themselves(params: dict[str, str]) -> None:
    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    header = "Bearer " + ",".join(f"{k}={quoted(v)}" for k, v in params.items())
    challenge = parse_challenge(header)
    assert challenge is not None
    assert (challenge.scheme, challenge.params) == ("bearer", params)


def test_a_header_without_a_scheme_is_no_challenge() -> None:
    assert parse_challenge("") is None
    assert parse_challenge("   ") is None
    assert parse_challenge('realm="x"') is not None  # a bare word reads as the scheme
    assert parse_challenge('="x"') is None


def test_scopes_name_the_repository_and_the_actions() -> None:
    assert pull_scope("acme/model") == "repository:acme/model:pull"
    assert push_scope("acme/model") == "repository:acme/model:pull,push"


def test_token_scopes_keep_ours_first_and_add_the_challenges_once() -> None:
    ours = (push_scope("a/b"), pull_scope("a/c"))
    challenged = f"{pull_scope('a/c')}  {pull_scope('x/y')} "
    assert token_scopes(ours, challenged) == [*ours, pull_scope("x/y")]
    assert token_scopes((), "") == []


# ---- references and bodies ---------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    ["v1", "latest", "_x", "a" * 128, "1.2.3-rc_1", "sha256:" + "0" * 64],
)
def test_tags_and_valid_digests_may_be_sent(ref: str) -> None:
    assert reference_error(ref) is None


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("sha256:abc", "expected 64 hex chars"),
        ("sha512:" + "a" * 128, "only sha256"),
        ("has space", "invalid tag"),
        ("-leading-dash", "invalid tag"),
        (".dot", "invalid tag"),
        ("x" * 129, "invalid tag"),
        ("", "invalid tag"),
    ],
    ids=["short-digest", "other-algorithm", "space", "leading-dash", "dot", "too-long", "empty"],
)
def test_other_references_are_refused_with_the_reason(ref: str, why: str) -> None:
    problem = reference_error(ref)
    assert problem is not None and why in problem


@pytest.mark.parametrize(
    ("raw", "media_type"),
    [
        (
            b'{"mediaType": "application/vnd.oci.image.index.v1+json"}',
            "application/vnd.oci.image.index.v1+json",
        ),
        (b'{"schemaVersion": 2}', ""),
        (b'{"mediaType": 5}', ""),
        (b'["mediaType"]', ""),
        (b"\xff\xfe", ""),
        (b"[" * 100_000, ""),
    ],
    ids=["named", "absent", "not-a-string", "not-an-object", "not-utf8", "deeply-nested"],
)
def test_a_manifest_names_its_media_type_or_none(raw: bytes, media_type: str) -> None:
    assert media_type_in(raw) == media_type


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown"}]}',
            ("BLOB_UNKNOWN", "blob unknown"),
        ),
        (b'{"errors": [{"code": "DENIED"}, {"code": "OTHER"}]}', ("DENIED", "")),
        (b'{"errors": [{"message": "no code"}]}', (None, "no code")),
        (b'{"errors": [{"code": 7, "message": null}]}', ("7", "")),
        (b'{"errors": []}', (None, "")),
        (b'{"errors": "text"}', (None, "")),
        (b'{"errors": {"0": {"code": "X"}}}', (None, "")),
        (b'{"errors": ["X"]}', (None, "")),
        (b'[{"code": "X"}]', (None, "")),
        (b"<html>502 Bad Gateway</html>", (None, "")),
        (b"", (None, "")),
        (b"\xff", (None, "")),
        (b"[" * 100_000, (None, "")),
    ],
    ids=[
        "code-and-message",
        "first-of-several",
        "message-only",
        "non-string-code",
        "empty-list",
        "string",
        "object",
        "list-of-strings",
        "top-level-list",
        "html",
        "empty",
        "not-utf8",
        "deeply-nested",
    ],
)
def test_an_error_body_yields_the_first_oci_code_and_message(
    body: bytes, expected: tuple[str | None, str]
) -> None:
    assert oci_error(body) == expected


@given(st.binary(max_size=300))
def test_any_error_body_decodes_without_raising(body: bytes) -> None:
    code, message = oci_error(body)
    assert code is None or isinstance(code, str)
    assert isinstance(message, str)


# ---- headers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("12", 12.0),
        (" 3 ", 3.0),
        ("-1", None),
        ("1.5", None),
        ("soon", None),
    ],
)
def test_retry_after_in_seconds(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, now=1_000_000.0) == expected


@given(st.integers(0, 2**31), st.integers(-10_000, 10_000))
def test_retry_after_as_an_http_date_counts_from_now_and_never_goes_negative(
    when: int, offset: int
) -> None:
    header = email.utils.formatdate(when, usegmt=True)
    assert retry_after_seconds(header, now=float(when + offset)) == max(0.0, float(-offset))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", None),
        ("1", 1),
        (" 42 ", 42),
        ("-5", None),
        ("x", None),
        ("4.0", None),
    ],
)
def test_positive_int_header(value: str | None, expected: int | None) -> None:
    assert positive_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes 100-199/200", 100),
        ("bytes  0-9/*", 0),
        ("bytes 5-", 5),
        ("100-199/200", None),
        ("bytes */200", None),
        ("", None),
    ],
)
def test_content_range_start(value: str, expected: int | None) -> None:
    assert content_range_start(value) == expected


@pytest.mark.parametrize(
    ("value", "end", "kept"),
    [
        ("0-1023", 1023, 1024),
        (" bytes=0-9 ", 9, 10),
        ("0-0", 0, 0),
        ("5-9", None, 0),
        ("0-", None, 0),
        ("", None, 0),
        (None, None, 0),
    ],
)
def test_an_upload_range_answer_says_how_many_bytes_the_registry_kept(
    value: str | None, end: int | None, kept: int
) -> None:
    assert range_end(value) == end
    assert kept_bytes(value) == kept


@pytest.mark.parametrize(
    ("wanted", "maximum", "minimum", "expected"),
    [
        (64, None, None, 64),
        (64, "16", None, 16),
        (64, "128", None, 64),
        (64, None, "100", 100),
        (64, None, "8", 64),
        (64, "16", "32", 32),  # a registry that contradicts itself: its minimum wins
        (64, "0", "x", 64),
    ],
)
def test_the_chunk_size_is_clamped_to_the_registrys_limits(
    wanted: int, maximum: str | None, minimum: str | None, expected: int
) -> None:
    assert upload_chunk_size(wanted, maximum, minimum) == expected


# ---- retries -----------------------------------------------------------------------------


@given(st.integers(1, 12), st.floats(0.001, 5.0), st.floats(0.0, 1.0, exclude_max=True))
def test_backoff_doubles_per_failure_with_at_most_a_quarter_of_jitter_and_a_cap(
    failures: int, base: float, jitter: float
) -> None:
    nominal = base * 2 ** (failures - 1)
    delay = retry_delay(failures, base, jitter)
    assert delay <= MAX_BACKOFF_SECONDS
    assert delay == min(nominal * (1 + 0.25 * jitter), MAX_BACKOFF_SECONDS)
    assert min(nominal, MAX_BACKOFF_SECONDS) <= delay <= min(nominal * 1.25, MAX_BACKOFF_SECONDS)


def test_backoff_without_jitter_is_the_doubling_schedule() -> None:
    assert [retry_delay(n, 0.5, 0.0) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 16, 30]


@pytest.mark.parametrize(
    ("asked", "cap", "delay"), [(3.0, 30.0, 3.0), (90.0, 30.0, 30.0), (0.0, 5.0, 0.0)]
)
def test_retry_after_replaces_the_backoff_up_to_its_cap(
    asked: float, cap: float, delay: float
) -> None:
    assert retry_delay(4, 0.5, 0.9, retry_after=asked, retry_after_cap=cap) == delay


@pytest.mark.parametrize("status", sorted(RETRYABLE_STATUSES))
def test_retryable_statuses_are_worth_resuming_and_restarting(status: int) -> None:
    assert worth_resuming(FailureKind.STATUS, status)
    assert worth_restarting(FailureKind.STATUS, status)


@pytest.mark.parametrize("status", [400, 404, 416])
def test_a_rejected_or_forgotten_session_is_worth_a_new_one_not_a_resume(status: int) -> None:
    assert not worth_resuming(FailureKind.STATUS, status)
    assert worth_restarting(FailureKind.STATUS, status)


@pytest.mark.parametrize("status", [None, 401, 403, 405, 409, 413])
def test_other_statuses_are_worth_neither(status: int | None) -> None:
    assert not worth_resuming(FailureKind.STATUS, status)
    assert not worth_restarting(FailureKind.STATUS, status)


@pytest.mark.parametrize("status", [None, 503])
def test_transport_failures_are_worth_both_and_final_ones_neither(status: int | None) -> None:
    assert worth_resuming(FailureKind.TRANSPORT, status)
    assert worth_restarting(FailureKind.TRANSPORT, status)
    assert not worth_resuming(FailureKind.FINAL, status)
    assert not worth_restarting(FailureKind.FINAL, status)


@pytest.mark.parametrize(
    ("text", "timed_out", "reason"),
    [
        ("HTTPConnectionPool(...): [Errno 111] Connection refused", False, "connection refused"),
        ("[Errno -2] Name or service not known", False, "unknown host"),
        ("[Errno -3] Temporary failure in name resolution", False, "unknown host"),
        ("[Errno 113] No route to host", False, "no route to host"),
        ("('Connection reset by peer')", False, "connection reset"),
        ("Read timed out. (read timeout=5)", True, "timed out"),
        ("something odd", True, "timed out"),
        ("something odd", False, "the connection failed"),
        ("x" * 200, False, "the connection failed"),
        (
            "('Connection broken: IncompleteRead(3 bytes read, 7 more expected)')",
            False,
            "the answer broke off before its end",
        ),
    ],
)
def test_a_transport_failure_gets_a_short_reason(text: str, timed_out: bool, reason: str) -> None:
    assert transport_reason(text, "ConnectionError", timed_out) == reason


def test_the_commit_names_the_layer_media_type_only_when_given():
    from cogw.core.registry.registryrules import LAYER_MEDIA_TYPE_HEADER, commit_headers

    tar = "application/vnd.oci.image.layer.v1.tar"
    assert commit_headers(tar) == {
        "Content-Type": "application/octet-stream",
        LAYER_MEDIA_TYPE_HEADER: tar,
    }
    assert commit_headers("") == {"Content-Type": "application/octet-stream"}
    assert LAYER_MEDIA_TYPE_HEADER == "OCI-Layer-Media-Type"
