"""URL handling the registry client needs: what a message shows, whose host, added queries."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit


def display(url: str) -> str:
    # Upload URLs carry signed state in the query; it is noise in a message.
    return urlsplit(url)._replace(query="", fragment="").geturl()


def host_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


def with_query(url: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(url).query else "?"
    return url + separator + urlencode(params)
