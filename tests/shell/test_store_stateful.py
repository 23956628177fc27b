"""Two FileStores on one directory and a FakeStore, driven alike, must always agree.

Modelled on hypothesis' DatabaseComparison: the pair of FileStores sharing a
directory catches state that leaks through the disk (temp files, stale prefix
dirs), and the FakeStore is the model the planner tests rely on.

Modelling choice: delete leaves empty ``<ab>/`` prefix dirs behind (as Cog does).
They are invisible through the protocol, so the model ignores them and the
invariants check that list and exists ignore them too. Temp files are not
invisible in the same way, so an invariant checks that none is ever left.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from cogw.shell.store import FileStore, LinkMode, Store, StoreError, open_store
from tests.fakes import FakeStore

CONTENTS = [b"", b"a", b"weights" * 100, bytes(range(256)) * 40]
DIGESTS = ["sha256:" + hashlib.sha256(data).hexdigest() for data in CONTENTS]

contents = st.sampled_from(CONTENTS)
store_index = st.sampled_from([0, 1])


def _outcome(store: Store, digest: str, size: int, data: bytes) -> object:
    """What a put did: its return value, or the type of the store error it raised."""
    try:
        return store.put_file(digest, size, io.BytesIO(data))
    except StoreError as err:
        return type(err)


class StoreAgreement(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.scratch = Path(tempfile.mkdtemp(prefix="cogw-store-"))
        self.files = [open_store(self.scratch / "weights"), FileStore(self.scratch / "weights")]
        self.fake = FakeStore()

    def teardown(self) -> None:
        shutil.rmtree(self.scratch)

    def _put_both(self, which: int, digest: str, size: int, data: bytes) -> None:
        real = _outcome(self.files[which], digest, size, data)
        model = _outcome(self.fake, digest, size, data)
        note(f"put {digest[:15]} size={size} len={len(data)}: file={real} fake={model}")
        assert real == model

    @rule(which=store_index, data=contents)
    def put_good_stream(self, which: int, data: bytes) -> None:
        self._put_both(which, DIGESTS[CONTENTS.index(data)], len(data), data)

    @rule(which=store_index, data=contents, other=contents, honest_size=st.booleans())
    def put_corrupted_stream(
        self, which: int, data: bytes, other: bytes, honest_size: bool
    ) -> None:
        """Content ``other`` under ``data``'s digest, sized as promised or as delivered."""
        size = len(data) if honest_size else len(other)
        self._put_both(which, DIGESTS[CONTENTS.index(data)], size, other)

    @rule(which=store_index, data=contents.filter(bool))
    def put_truncated_stream(self, which: int, data: bytes) -> None:
        self._put_both(which, DIGESTS[CONTENTS.index(data)], len(data), data[:-1])

    @rule(which=store_index, data=contents, mode=st.sampled_from(["copy", "auto"]))
    def ingest_a_local_file(self, which: int, data: bytes, mode: LinkMode) -> None:
        src = self.scratch / "source.bin"
        src.unlink(missing_ok=True)
        src.write_bytes(data)
        digest = DIGESTS[CONTENTS.index(data)]
        real = self.files[which].ingest_path(digest, len(data), src, mode)
        assert real == self.fake.ingest_path(digest, len(data), src, mode)

    @rule(which=store_index, digest=st.sampled_from(DIGESTS))
    def delete(self, which: int, digest: str) -> None:
        self.files[which].delete(digest)
        self.fake.delete(digest)

    @invariant()
    def exists_agrees(self) -> None:
        for digest in DIGESTS:
            expected = self.fake.exists(digest)
            assert [store.exists(digest) for store in self.files] == [expected, expected]

    @invariant()
    def list_agrees(self) -> None:
        expected = list(self.fake.list())
        assert [list(store.list()) for store in self.files] == [expected, expected]

    @invariant()
    def stored_blobs_are_intact(self) -> None:
        for info in self.fake.list():
            assert self.files[0].verify(info.digest)
            assert self.files[1].path(info.digest).read_bytes() == self.fake.blobs[info.digest]

    @invariant()
    def no_temp_file_is_ever_left(self) -> None:
        root = self.files[0].files_dir
        for _, _, names in os.walk(root):
            assert not [name for name in names if name.startswith("put-")]


StoreAgreement.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

test_file_stores_and_fake_store_agree = pytest.mark.slow(StoreAgreement.TestCase)
