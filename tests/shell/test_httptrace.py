"""The --debug trace line keeps scheme, host, port and path, and nothing secret."""

from __future__ import annotations

import pytest

from cogw.shell.httptrace import safe_url, trace_line


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://u:p@r.example:5000/v2/a?X-Amz-Signature=s#f", "https://r.example:5000/v2/a"),
        ("http://[::1]:5000/v2/", "http://[::1]:5000/v2/"),
        (
            "https://r.example/v2/a/blobs/uploads/x?_state=tok&digest=d",
            "https://r.example/v2/a/blobs/uploads/x",
        ),
    ],
)
def test_safe_url_drops_user_info_query_and_fragment(url: str, expected: str) -> None:
    assert safe_url(url) == expected


def test_trace_line_has_method_url_status_and_milliseconds() -> None:
    assert (
        trace_line("GET", "http://h:1/v2/?t=secret", 200, 0.5)
        == "http: GET http://h:1/v2/ 200 500.0ms"
    )
