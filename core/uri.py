"""Weight source URIs: Cog's normalisation of ``file://``, ``hf://`` and ``http(s)://`` URIs.

A config that loads carries canonical URIs (import spec §3.1), so equal
intent always compares equal and a lockfile written by Cog reads back without
drift. This module knows URI text only: whether a ``file://`` directory exists,
or an ``hf://`` ref or URL resolves, is the shell's question.

Deliberate differences from Cog: a relative source named like ``..weights`` is
fine (only a ``..`` component escapes the project), and ``http://`` /
``https://`` single-file sources are accepted, as in later Cog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from returns.result import Failure, Result, Success

from cogw.core.digest import go_quote
from cogw.core.paths import go_clean

SUPPORTED_SCHEMES = ("file", "hf", "huggingface", "http", "https")


@dataclass(frozen=True, slots=True)
class HFRef:
    """A Hugging Face model repository at a revision (branch, tag or commit)."""

    org: str
    repo: str
    ref: str = "main"

    @property
    def repo_id(self) -> str:
        return f"{self.org}/{self.repo}"


def scheme_of(uri: str) -> str:
    """The text before the first ``://``; ``""`` for a bare path (Cog's ``schemeOf``).

    >>> scheme_of("hf://org/repo"), scheme_of("weights/x")
    ('hf', '')
    """
    scheme, sep, _ = uri.partition("://")
    return scheme if sep else ""


def normalize_uri(uri: str) -> Result[str, str]:
    """The canonical form of a source URI, or why it is not one.

    >>> normalize_uri("./weights//models")
    <Success: file://./weights/models>
    >>> normalize_uri("huggingface://org/repo@main")
    <Success: hf://org/repo>
    """
    if uri == "":
        return Failure("weight source.uri is required")
    scheme = scheme_of(uri)
    if scheme not in ("http", "https") and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in uri):
        # No file name or repository id holds one; a NUL would reach the OS and fail there.
        return Failure(f"weight source {go_quote(uri)} contains a control character")
    if scheme in ("", "file"):
        return _normalize_file(uri.removeprefix("file://") if scheme else uri)
    if scheme in ("hf", "huggingface"):
        return parse_hf_uri(uri).map(_hf_uri)
    if scheme in ("http", "https"):
        return _normalize_http(uri)
    supported = ", ".join(SUPPORTED_SCHEMES)
    return Failure(
        f"unsupported weight source scheme {go_quote(scheme)} in URI {go_quote(uri)}"
        f" (supported: {supported})"
    )


def _normalize_file(path: str) -> Result[str, str]:
    if path == "":
        return Failure("empty weight source path")
    clean = go_clean(path)
    if clean.startswith("/"):
        return Success("file://" + clean)
    if clean == ".":
        return Failure("weight source cannot be the project directory itself")
    # Only a ".." component climbs out; "..weights" is an ordinary directory name.
    if clean == ".." or clean.startswith("../"):
        return Failure(f"weight source {go_quote(path)} escapes the project directory")
    return Success("file://./" + clean)


def parse_hf_uri(uri: str) -> Result[HFRef, str]:
    """``hf://org/repo[@ref]`` (or ``huggingface://``) split into its parts, as Cog does.

    >>> parse_hf_uri("hf://o/m@feature/branch")
    <Success: HFRef(org='o', repo='m', ref='feature/branch')>
    """
    for prefix in ("hf://", "huggingface://"):
        if uri.startswith(prefix):
            rest = uri[len(prefix) :]
            break
    else:
        return Failure(f"not an hf:// URI: {go_quote(uri)}")
    if rest == "":
        return Failure("empty hf:// URI")
    repo, ref = rest, "main"
    at = rest.rfind("@")
    if at > 0:
        repo, ref = rest[:at], rest[at + 1 :]
        if ref == "":
            return Failure(f"empty ref in hf:// URI: {go_quote(uri)}")
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts):
        return Failure(f"invalid hf:// repo {go_quote(repo)}: expected org/repo")
    return Success(HFRef(org=parts[0], repo=parts[1], ref=ref))


def _hf_uri(ref: HFRef) -> str:
    suffix = "" if ref.ref == "main" else "@" + ref.ref
    return f"hf://{ref.org}/{ref.repo}{suffix}"


# Characters Go's url.URL.String() leaves as typed in a path (unreserved, sub-delims, ":@/").
_PATH_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~$&+,/:;=@!'()*[]"
)
_FRAGMENT_SAFE = _PATH_SAFE | {"?"}
_HOST_RE = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::[0-9]*)?")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})(.{0,2})", re.DOTALL)


def _normalize_http(uri: str) -> Result[str, str]:
    """Go's ``url.Parse(uri).String()`` for ordinary URLs, plus Cog's checks.

    Characters Go would escape are percent-encoded one by one, and existing
    escapes are kept, so an already-canonical URL is returned unchanged.
    """
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in uri):
        return Failure(f"invalid HTTP URI {go_quote(uri)}: invalid control character in URL")
    scheme, _, rest = uri.partition("://")
    rest, has_fragment, fragment = rest.partition("#")
    rest, has_query, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    path = slash + path
    if "@" in authority:
        return Failure("HTTP URI must not embed credentials (user:pass@host)")
    problem = _http_part_problem(uri, authority, path + fragment)
    if problem:
        return Failure(problem)
    # Judge the name as the server sees it: "%2E%2E" is "..", "a%2F" ends in a slash.
    name = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), path).rsplit("/", 1)[-1]
    if name in ("", ".", ".."):
        return Failure(f"HTTP URI {go_quote(uri)} has no filename in path")
    out = f"{scheme}://{authority}{_escape(path, _PATH_SAFE)}"
    if has_query:
        out += "?" + query
    if has_fragment and fragment:
        out += "#" + _escape(fragment, _FRAGMENT_SAFE)
    return Success(out)


def _http_part_problem(uri: str, authority: str, escaped_text: str) -> str | None:
    if authority == "":
        return f"HTTP URI {go_quote(uri)} has no host"
    if not _HOST_RE.fullmatch(authority):
        return f"invalid HTTP URI {go_quote(uri)}: invalid host or port {go_quote(authority)}"
    bad = _BAD_ESCAPE.search(escaped_text)
    if bad:
        return f"invalid HTTP URI {go_quote(uri)}: invalid URL escape {go_quote(bad.group(0))}"
    return None


def _escape(text: str, safe: frozenset[str]) -> str:
    out: list[str] = []
    for ch in text:
        if ch in safe or ch == "%":
            out.append(ch)
        else:
            out.extend(f"%{byte:02X}" for byte in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)
