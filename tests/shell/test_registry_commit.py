"""The upload commit's OCI-Layer-Media-Type header, on both upload paths (one PUT, or
PATCHes then a PUT), against the real registry behind the recording proxy."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cogw.shell.registry import RegistryClient
from tests.fixtures.faultproxy import FaultProxy
from tests.fixtures.registry import RunningRegistry
from tests.shell.test_registry import (
    KIB,
    SMALL_CHUNKS,
    chunks_of,
    fast_options,
    new_repo,
    random_blob,
    read_back,
)

pytestmark = pytest.mark.registry
TAR = "application/vnd.oci.image.layer.v1.tar"


@pytest.mark.parametrize("size", [100 * KIB, 600 * KIB], ids=["monolithic", "chunked"])
@pytest.mark.parametrize("media_type", [TAR, ""], ids=["named", "unnamed"])
def test_only_the_commit_names_the_layer_media_type_and_only_when_asked(
    size: int,
    media_type: str,
    registry: RunningRegistry,
    fault_proxy: Callable[[RunningRegistry], FaultProxy],
) -> None:
    proxy = fault_proxy(registry)
    repo = new_repo("lmt")
    data, digest = random_blob(size)
    client = RegistryClient(proxy.host, fast_options(**SMALL_CHUNKS))
    assert client.push_blob(repo, digest, size, chunks_of(data), layer_media_type=media_type) == (
        "uploaded"
    )
    puts = proxy.requests_matching("PUT", "/blobs/uploads/")
    (commit,) = [r for r in puts if "digest=" in r.target]
    assert commit.headers.get("oci-layer-media-type") == (media_type or None)
    patches = proxy.requests_matching("PATCH", "/blobs/uploads/")
    assert (len(patches) > 0) == (size > 256 * KIB)
    assert all("oci-layer-media-type" not in r.headers for r in patches)
    assert read_back(registry, repo, digest) == data
