"""The layer reader used by pull: stores what the lockfile expects, refuses everything else."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import tarfile
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pvector

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.packing import LayerPlan
from cogw.core.digest import PREFIX
from cogw.core.lock.lockfile import (
    MEDIA_TYPE_TAR,
    MEDIA_TYPE_TAR_GZIP,
    MEDIA_TYPE_TAR_ZSTD,
    LockFile,
)
from cogw.shell.layers import stream_layer
from cogw.shell.layerstream import HostileLayer
from cogw.shell.store import Cancelled
from cogw.shell.untar import (
    MAX_META_SIZE,
    TAR_OVERHEAD_SLACK,
    StoreFileError,
    extract_layer,
)

# GNU tar prints and converts names by locale; UTF-8 keeps non-ASCII names intact.
TAR_ENV = {**os.environ, "LC_ALL": "C.UTF-8"}
LAYER = PREFIX + "9" * 64
FILES = {
    "config.json": b'{"hidden_size": 384}',
    "1_Pooling/config.json": b"pooling" * 50,
    "t\u00f6kenizer/" + "long-name-" * 12 + ".json": b"tokens" * 400,
    "empty.txt": b"",
}


class MemoryStore:
    """Just enough of the store: verifies size and digest, drains when already present."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put_file(
        self, digest: str, size: int, reader: BinaryIO, cancel: threading.Event | None = None
    ) -> bool:
        data = b""
        while chunk := reader.read(1 << 16):
            data += chunk
        if digest in self.blobs:
            return False
        if len(data) != size or PREFIX + hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(f"content mismatch for {digest}")
        self.blobs[digest] = data
        return True


def _digest(data: bytes) -> str:
    return PREFIX + hashlib.sha256(data).hexdigest()


def _expected(files: dict[str, bytes]) -> dict[str, LockFile]:
    return {p: LockFile(p, len(d), _digest(d), LAYER) for p, d in files.items()}


def _cogw_layer(files: dict[str, bytes], level: int | None, tmp_path: Path) -> bytes:
    inventory = []
    for path, data in sorted(files.items()):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
        inventory.append(InventoryFile(path, len(data), _digest(data)))
    media_type = MEDIA_TYPE_TAR if level is None else MEDIA_TYPE_TAR_GZIP
    plan = LayerPlan(pvector(inventory), media_type, level)
    return b"".join(stream_layer(plan, lambda f: (tmp_path / f.path).open("rb")))


def _chunks(blob: bytes, size: int = 1000) -> Iterator[bytes]:
    return (blob[i : i + size] for i in range(0, len(blob), size))


def _extract(
    blob: bytes, media_type: str = MEDIA_TYPE_TAR, expected: dict[str, LockFile] | None = None
) -> tuple[set[str], MemoryStore]:
    store = MemoryStore()
    stored = extract_layer(_chunks(blob), media_type, expected or _expected(FILES), store)
    return stored, store


def _tar(entries: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def _reg(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, b""


@pytest.mark.parametrize(
    ("level", "media_type"),
    [(None, MEDIA_TYPE_TAR), (9, MEDIA_TYPE_TAR_GZIP), (6, MEDIA_TYPE_TAR_GZIP)],
    ids=["raw tar", "gzip 9", "gzip 6"],
)
def test_cogw_layers_round_trip_into_the_store(
    tmp_path: Path, level: int | None, media_type: str
) -> None:
    blob = _cogw_layer(FILES, level, tmp_path)
    stored, store = _extract(blob, media_type)
    assert stored == set(FILES)
    assert store.blobs == {_digest(d): d for d in FILES.values()}


def test_zstd_layers_are_decompressed(tmp_path: Path) -> None:
    blob = zstandard.ZstdCompressor().compress(_cogw_layer(FILES, None, tmp_path))
    stored, _ = _extract(blob, MEDIA_TYPE_TAR_ZSTD)
    assert stored == set(FILES)


def test_multi_member_gzip_is_read_across_members(tmp_path: Path) -> None:
    raw = _cogw_layer(FILES, None, tmp_path)
    blob = gzip.compress(raw[:3000]) + gzip.compress(raw[3000:])
    assert _extract(blob, MEDIA_TYPE_TAR_GZIP)[0] == set(FILES)


def test_magic_bytes_win_over_a_plain_tar_media_type(tmp_path: Path) -> None:
    blob = _cogw_layer(FILES, 9, tmp_path)
    assert _extract(blob, MEDIA_TYPE_TAR)[0] == set(FILES)


def test_a_blob_contradicting_its_declared_compression_is_refused(tmp_path: Path) -> None:
    blob = _cogw_layer(FILES, None, tmp_path)
    with pytest.raises(HostileLayer, match="not gzip"):
        _extract(blob, MEDIA_TYPE_TAR_GZIP)


def test_each_file_is_reported_with_whether_it_was_new(tmp_path: Path) -> None:
    blob = _cogw_layer(FILES, 9, tmp_path)
    store = MemoryStore()
    seen: list[tuple[str, bool]] = []
    for _ in range(2):
        extract_layer(
            _chunks(blob),
            MEDIA_TYPE_TAR_GZIP,
            _expected(FILES),
            store,
            on_file=lambda f, new: seen.append((f.path, new)),
        )
    first, second = seen[: len(FILES)], seen[len(FILES) :]
    assert sorted(first) == sorted((p, True) for p in FILES)
    assert sorted(second) == sorted((p, False) for p in FILES)


@pytest.mark.parametrize(
    "fmt",
    [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT],
    ids=["pax", "gnu", "ustar"],
)
def test_tars_from_other_writers_are_accepted_including_long_names(fmt: int) -> None:
    long_name = "a" * 60 + "/" + "b" * 90 + ".bin"  # needs PAX path, GNU 'L' or ustar prefix
    files = {"x.json": b"x", long_name: b"long"}
    dir_info = tarfile.TarInfo("a" * 60)
    dir_info.type = tarfile.DIRTYPE
    blob = _tar([(dir_info, b""), *(_reg(p, d) for p, d in files.items())], fmt)
    assert _extract(blob, expected=_expected(files))[0] == set(files)


@pytest.mark.parametrize("fmt", ["pax", "gnu"])
def test_gnu_tar_made_layers_are_accepted(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "src"
    for path, data in FILES.items():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_bytes(data)
    top = sorted({p.split("/")[0] for p in FILES})
    blob = subprocess.run(
        ["tar", f"--format={fmt}", "-C", str(src), "-cf", "-", *top],
        check=True,
        capture_output=True,
        env=TAR_ENV,
    ).stdout
    assert _extract(blob)[0] == set(FILES)


def _cog_dir(name: str) -> tuple[tarfile.TarInfo, bytes]:
    """A directory entry as current Cog's packer writes it (``deterministicDirHeader``)."""
    info = tarfile.TarInfo(name + "/")
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = 0
    return info, b""


def _ancestors(paths: list[str]) -> list[str]:
    dirs = {"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)}
    return sorted(dirs)


def test_directory_entries_are_skipped_as_cog_skips_them_whatever_they_name() -> None:
    """Cog's pull skips every directory entry (``pkg/weights/pull.go``) and its packer writes
    one for every ancestor first; a directory the lockfile does not imply is skipped too,
    before or after the files, and none is created or stored."""
    files = {**FILES, "a/b/c/deep.bin": b"deep"}
    dirs = [_cog_dir(d) for d in _ancestors(list(files))]
    assert [d.name for d, _ in dirs][:2] == ["1_Pooling/", "a/"]
    entries = [
        *dirs,
        *(_reg(p, data) for p, data in files.items()),
        _cog_dir("unlisted"),
        _cog_dir("a/b/elsewhere"),
    ]
    stored, store = _extract(_tar(entries), expected=_expected(files))
    assert stored == set(files)
    assert sorted(store.blobs.values()) == sorted(set(files.values()))


def test_legacy_regular_type_on_a_slash_name_is_a_directory() -> None:
    info = tarfile.TarInfo("1_Pooling/")
    info.type = tarfile.AREGTYPE
    blob = _tar([(info, b""), _reg("1_Pooling/config.json", FILES["1_Pooling/config.json"])])
    assert _extract(blob)[0] == {"1_Pooling/config.json"}


HOSTILE = [
    pytest.param(
        [_special("config.json", tarfile.SYMTYPE, "/etc/passwd")], "symlink", id="symlink"
    ),
    pytest.param([_special("config.json", tarfile.LNKTYPE, "other")], "hardlink", id="hardlink"),
    pytest.param([_special("dev", tarfile.CHRTYPE)], "character device", id="char device"),
    pytest.param([_special("blk", tarfile.BLKTYPE)], "block device", id="block device"),
    pytest.param([_special("pipe", tarfile.FIFOTYPE)], "fifo", id="fifo"),
    pytest.param([_reg("../x", b"x")], "escapes with '..'", id="parent escape"),
    pytest.param([_reg("a/../../x", b"x")], "escapes with '..'", id="nested parent escape"),
    pytest.param([_reg("/etc/x", b"x")], "absolute path", id="absolute path"),
    pytest.param([_reg("surprise.bin", b"x")], "unexpected file not in lockfile", id="unexpected"),
    pytest.param([_reg("./config.json", FILES["config.json"])], "not in lockfile", id="dot slash"),
    pytest.param([_reg("config.json", b"short")], "size 5 but the lockfile says 20", id="size"),
    pytest.param(
        [_reg("config.json", FILES["config.json"])] * 2, "duplicate entry", id="duplicate file"
    ),
]


@pytest.mark.parametrize(("entries", "message"), HOSTILE)
def test_hostile_entries_are_refused_naming_the_entry(
    entries: list[tuple[tarfile.TarInfo, bytes]], message: str
) -> None:
    store = MemoryStore()
    with pytest.raises(HostileLayer, match=message) as caught:
        extract_layer(_chunks(_tar(entries)), MEDIA_TYPE_TAR, _expected(FILES), store)
    assert f'"{entries[-1][0].name}"' in str(caught.value)
    assert store.blobs == {} or len(entries) > 1


def test_an_entry_claiming_far_more_bytes_than_the_lockfile_is_refused_before_reading() -> None:
    info, _ = _reg("config.json", b"")
    info.size = 10 << 30  # a 10 GiB claim; the stream holds a few bytes
    header = info.tobuf(tarfile.PAX_FORMAT)
    with pytest.raises(HostileLayer, match="size 10737418240 but the lockfile says 20"):
        _extract(header + b"tiny")


def test_sparse_pax_entries_are_refused() -> None:
    info, data = _reg("config.json", FILES["config.json"])
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}
    with pytest.raises(HostileLayer, match="sparse"):
        _extract(_tar([(info, data)]))


def test_a_directory_carrying_data_is_refused() -> None:
    info = tarfile.TarInfo("1_Pooling")
    info.type = tarfile.DIRTYPE
    info.size = 512
    with pytest.raises(HostileLayer, match="directory with 512 bytes"):
        _extract(info.tobuf(tarfile.PAX_FORMAT) + bytes(512) + bytes(1024))


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        pytest.param(0, "truncated inside a tar header", id="empty blob"),
        pytest.param(-1024, "truncated inside a tar header", id="no end-of-archive marker"),
        pytest.param(-512, "end-of-archive marker", id="half an end marker"),
        pytest.param(2000, "truncated inside", id="cut inside a header or data"),
    ],
)
def test_truncated_tars_are_refused_not_taken_as_ended(cut: int, message: str) -> None:
    blob = _tar([_reg(p, d) for p, d in FILES.items()])
    blob = blob.rstrip(b"\0")  # drop tarfile's record padding, keep exactly two zero blocks
    blob += bytes(-len(blob) % 512) + bytes(1024)
    with pytest.raises(HostileLayer, match=message):
        _extract(blob[:cut])


def test_a_truncated_gzip_stream_is_refused(tmp_path: Path) -> None:
    blob = _cogw_layer(FILES, 9, tmp_path)
    with pytest.raises(HostileLayer, match="truncated"):
        _extract(blob[: len(blob) // 2], MEDIA_TYPE_TAR_GZIP)


def test_a_corrupt_header_checksum_is_refused() -> None:
    blob = bytearray(_tar([_reg("config.json", FILES["config.json"])]))
    blob[0] ^= 0x01
    with pytest.raises(HostileLayer, match="checksum"):
        _extract(bytes(blob))


def test_content_that_does_not_match_its_digest_fails_in_the_store() -> None:
    forged = b"X" * len(FILES["config.json"])
    message = r"store config\.json \(sha256:.*\): content mismatch"
    with pytest.raises(StoreFileError, match=message) as caught:
        _extract(_tar([_reg("config.json", forged)]))
    assert isinstance(caught.value.__cause__, ValueError)


def _global_header_flood(count: int) -> Iterator[bytes]:
    """A small gzip blob that inflates into ``count`` maximal 'g' metadata entries."""
    info = tarfile.TarInfo("g")
    info.type = tarfile.XGLTYPE
    info.size = MAX_META_SIZE
    entry = info.tobuf(tarfile.USTAR_FORMAT) + bytes(MAX_META_SIZE)
    deflate = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for _ in range(count):
        yield deflate.compress(entry)
    yield deflate.flush()


@pytest.mark.slow
def test_a_layer_inflating_far_beyond_its_files_is_refused() -> None:
    count = TAR_OVERHEAD_SLACK // MAX_META_SIZE + 2
    with pytest.raises(HostileLayer, match="expands beyond"):
        extract_layer(_global_header_flood(count), MEDIA_TYPE_TAR_GZIP, {}, MemoryStore())


def test_a_cancelled_extraction_stops_before_the_next_entry(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    blob = _cogw_layer(FILES, None, tmp_path)
    store = MemoryStore()
    with pytest.raises(Cancelled):
        extract_layer(_chunks(blob), MEDIA_TYPE_TAR, _expected(FILES), store, cancel=cancel)
    assert store.blobs == {}


def test_large_entries_stream_through_in_bounded_reads(tmp_path: Path) -> None:
    data = bytes(range(256)) * (12 << 12)  # 12 MiB
    blob = _cogw_layer({"big.bin": data}, None, tmp_path)
    reads: list[int] = []

    class MeasuringStore(MemoryStore):
        def put_file(
            self, digest: str, size: int, reader: BinaryIO, cancel: threading.Event | None = None
        ) -> bool:
            hasher = hashlib.sha256()
            while chunk := reader.read(1 << 20):
                reads.append(len(chunk))
                hasher.update(chunk)
            assert PREFIX + hasher.hexdigest() == digest
            return True

    stored = extract_layer(
        _chunks(blob, 1 << 16), MEDIA_TYPE_TAR, _expected({"big.bin": data}), MeasuringStore()
    )
    assert stored == {"big.bin"}
    assert sum(reads) == len(data)
    assert max(reads) <= 1 << 20


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(lambda b: b[: len(b) // 2], "truncated", id="truncated zstd"),
        pytest.param(lambda b: b[:8] + bytes(64) + b[72:], "corrupt|truncated", id="corrupt zstd"),
    ],
)
def test_damaged_zstd_streams_are_refused(
    tmp_path: Path, damage: Callable[[bytes], bytes], message: str
) -> None:
    blob = zstandard.ZstdCompressor().compress(_cogw_layer(FILES, None, tmp_path))
    with pytest.raises(HostileLayer, match=message):
        _extract(damage(blob), MEDIA_TYPE_TAR_ZSTD)


def test_errors_of_the_blob_stream_itself_pass_through_unchanged(tmp_path: Path) -> None:
    blob = _cogw_layer(FILES, 9, tmp_path)

    def failing_download() -> Iterator[bytes]:
        yield blob[:100]
        raise ConnectionError("connection reset by peer")

    with pytest.raises(ConnectionError, match="reset"):
        extract_layer(failing_download(), MEDIA_TYPE_TAR_GZIP, _expected(FILES), MemoryStore())


_SEGMENTS = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1,
    max_size=30,
).filter(lambda s: s not in {".", ".."})
_FILE_SETS = st.dictionaries(
    st.lists(_SEGMENTS, min_size=1, max_size=4).map("/".join),
    st.binary(max_size=2000),
    min_size=1,
    max_size=8,
).filter(lambda d: not any(p.startswith(q + "/") for p in d for q in d))


@pytest.mark.slow
@given(files=_FILE_SETS, level=st.sampled_from([None, 1, 9]), chunk=st.integers(1, 5000))
def test_any_cogw_layer_round_trips_through_the_reader_in_any_chunking(
    files: dict[str, bytes], level: int | None, chunk: int
) -> None:
    inventory = [InventoryFile(p, len(d), _digest(d)) for p, d in sorted(files.items())]
    media_type = MEDIA_TYPE_TAR if level is None else MEDIA_TYPE_TAR_GZIP
    plan = LayerPlan(pvector(inventory), media_type, level)
    blob = b"".join(stream_layer(plan, lambda f: io.BytesIO(files[f.path])))
    store = MemoryStore()
    stored = extract_layer(_chunks(blob, chunk), media_type, _expected(files), store)
    assert stored == set(files)
    assert store.blobs == {_digest(d): d for d in files.values()}
