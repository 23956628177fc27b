"""Sessions whose connections tell the current transfer which socket they use.

requests offers no handle on the socket of a request in flight; these connection and pool
classes, mounted through ``TrackingAdapter``, attach themselves to the thread's current
``Transfer`` (``cancel``), so a cancel can shut that socket down.
"""

from __future__ import annotations

from typing import Any

import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool
import urllib3.poolmanager

from cogw.shell.registry.cancel import attach_to_current_transfer


class TrackedHTTPConnection(urllib3.connection.HTTPConnection):
    """A connection that registers with the transfer using it, so a cancel can shut it."""

    def connect(self) -> None:
        super().connect()
        attach_to_current_transfer(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        attach_to_current_transfer(self)
        super().request(*args, **kwargs)


class TrackedHTTPSConnection(TrackedHTTPConnection, urllib3.connection.HTTPSConnection):
    """The same for TLS (the MRO puts HTTPSConnection's connect under the tracking one)."""


class TrackedHTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = TrackedHTTPConnection


class TrackedHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = TrackedHTTPSConnection


_TRACKED_POOLS = {"http": TrackedHTTPPool, "https": TrackedHTTPSPool}


class TrackingAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose connections tell the current transfer which socket they use."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _TRACKED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.poolmanager.ProxyManager:  # not SOCKS: own pool classes
            manager.pool_classes_by_scheme = _TRACKED_POOLS
        return manager


def new_session(pool_size: int) -> requests.Session:
    session = requests.Session()
    # Retries are ours (they must resume, re-authenticate and re-open streams); urllib3's
    # would resend blindly.
    adapter = TrackingAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "cogw"
    return session
