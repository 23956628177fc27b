"""Tar framing: Go archive/tar's PAX layout field by field, and readable by Python's tarfile.

GNU tar extraction and the byte-exact match with a real Cog layer are in
tests/shell/test_layers.py (they need disk and processes).
"""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cogw.core.artifact.tarformat import (
    END_OF_ARCHIVE,
    ancestor_dirs,
    dir_entry,
    file_header,
    file_padding,
    standalone_framing,
    tar_size,
)

GIB8 = 1 << 33


def _field(block: bytes, offset: int, length: int) -> bytes:
    return block[offset : offset + length]


def _checksum_ok(block: bytes) -> bool:
    stored = int(_field(block, 148, 6), 8)
    assert _field(block, 154, 2) == b"\0 "
    return stored == sum(block[:148]) + 8 * ord(" ") + sum(block[156:])


def _records(entry: bytes) -> list[bytes]:
    """The PAX records of an entry, each checked against its own declared length."""
    size = int(_field(entry, 124, 11), 8)
    data = entry[512 : 512 + size]
    records = []
    while data:
        length = int(data.split(b" ", 1)[0])
        record, data = data[:length], data[length:]
        assert record.endswith(b"\n")
        records.append(record)
    return records


def _archive(files: list[tuple[str, bytes]]) -> bytes:
    dirs = [dir_entry(d) for d in ancestor_dirs(p for p, _ in files)]
    body = [file_header(p, len(d)) + d + file_padding(len(d)) for p, d in files]
    return b"".join(dirs + body) + END_OF_ARCHIVE


def _read_back(archive: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        return tar.getmembers()


def test_file_entry_matches_gos_pax_layout_field_by_field() -> None:
    entry = file_header("model.safetensors", 90868376)
    pax, main = entry[:512], entry[1024:1536]
    assert len(entry) == 1536
    assert _field(pax, 0, 100).rstrip(b"\0") == b"PaxHeaders.0/model.safetensors"
    assert _field(pax, 100, 24) == b"0000000\0" * 3
    assert _field(pax, 124, 24) == b"00000000026\0" + b"00000000000\0"
    assert _field(pax, 156, 1) == b"x"
    assert _field(pax, 257, 8) == b"ustar\x0000"
    assert _field(pax, 265, 247) == bytes(247)  # uname, gname, devmajor/minor, prefix: NUL
    assert entry[512:1024] == b"11 atime=0\n11 ctime=0\n" + bytes(490)
    assert _field(main, 0, 100).rstrip(b"\0") == b"model.safetensors"
    assert _field(main, 100, 24) == b"0000644\0" + b"0000000\0" * 2
    assert _field(main, 124, 12) == format(90868376, "011o").encode() + b"\0"
    assert _field(main, 136, 12) == b"00000000000\0"
    assert _field(main, 156, 1) == b"0"
    assert _field(main, 329, 16) == b"0000000\0" * 2  # unlike the PAX block
    assert _checksum_ok(pax)
    assert _checksum_ok(main)


def test_directory_entry_is_mode_755_type_5_with_pax_name_inside_the_dir() -> None:
    entry = dir_entry("a/b/")
    assert len(entry) == 1536
    assert _field(entry, 0, 100).rstrip(b"\0") == b"a/b/PaxHeaders.0"
    assert _field(entry, 1024, 100).rstrip(b"\0") == b"a/b/"
    assert _field(entry, 1024 + 100, 8) == b"0000755\0"
    assert _field(entry, 1024 + 124, 12) == b"00000000000\0"
    assert _field(entry, 1024 + 156, 1) == b"5"


@pytest.mark.parametrize(
    ("name", "pax_name"),
    [
        pytest.param("x.bin", b"PaxHeaders.0/x.bin", id="root file"),
        pytest.param("a/b/c.bin", b"a/b/PaxHeaders.0/c.bin", id="nested file"),
        pytest.param("\u00e9/\u00fc.bin", b"/PaxHeaders.0/.bin", id="non-ASCII dropped"),
        pytest.param("d/" + "n" * 120, b"d/PaxHeaders.0/" + b"n" * 85, id="cut to 100 bytes"),
    ],
)
def test_pax_header_name_follows_go(name: str, pax_name: bytes) -> None:
    assert _field(file_header(name, 1), 0, 100).rstrip(b"\0") == pax_name


@pytest.mark.parametrize(
    ("name", "size", "extra"),
    [
        pytest.param("short.json", 5, [], id="short ASCII name: times only"),
        pytest.param("n" * 100, 5, [], id="exactly 100 bytes fits the ustar field"),
        pytest.param("n" * 101, 5, [b"path=" + b"n" * 101], id="101 bytes needs a path record"),
        pytest.param("\u00e9t\u00e9.bin", 5, ["path=été.bin".encode()], id="non-ASCII path"),
        pytest.param("big.bin", GIB8 - 1, [], id="largest 11-digit octal size"),
        pytest.param("big.bin", GIB8, [b"size=8589934592"], id="8 GiB needs a size record"),
    ],
)
def test_pax_records_are_sorted_and_only_when_ustar_cannot_hold_the_value(
    name: str, size: int, extra: list[bytes]
) -> None:
    records = _records(file_header(name, size))
    bodies = sorted([b"atime=0", b"ctime=0", *extra])
    assert [r.split(b" ", 1)[1].rstrip(b"\n") for r in records] == bodies


@pytest.mark.parametrize("length", [89, 90, 91, 92, 995, 996, 997], ids=lambda n: f"{n} bytes")
def test_pax_record_length_counts_its_own_digits_across_digit_boundaries(length: int) -> None:
    name = "\u00e9" + "a" * (length - 2)  # non-ASCII so a path record is always written
    (path_record,) = [r for r in _records(file_header(name, 1)) if b" path=" in r]
    assert path_record.endswith(name.encode() + b"\n")  # _records checked the length


def test_size_from_8_gib_is_zero_in_ustar_and_exact_in_pax() -> None:
    entry = file_header("huge.safetensors", GIB8 + 5)
    assert _field(entry, 1024 + 124, 12) == b"00000000000\0"
    with tarfile.open(fileobj=io.BytesIO(entry), mode="r|") as tar:
        member = tar.next()
        assert member is not None
        assert member.size == GIB8 + 5


def test_long_name_cut_at_a_slash_never_ends_the_ustar_field_with_a_slash() -> None:
    name = "a" * 99 + "/" + "b" * 50
    field = _field(file_header(name, 1), 1024, 100)
    assert field == b"a" * 99 + b"\0"


def test_tarfile_reads_names_sizes_types_and_contents() -> None:
    long_name = "deep/" + "x" * 120 + "/model.bin"
    files = [
        ("config.json", b"{}"),
        ("sub/dir/tok\u00e9n.json", b"hello"),
        (long_name, b"z" * 513),
        ("empty.txt", b""),
    ]
    members = _read_back(_archive(files))
    got = [(m.name, m.size, m.type, m.mode, m.mtime) for m in members]
    dirs = [
        (d.rstrip("/"), 0, tarfile.DIRTYPE, 0o755, 0) for d in ancestor_dirs(p for p, _ in files)
    ]
    regs = [(p, len(d), tarfile.REGTYPE, 0o644, 0) for p, d in files]
    assert got == dirs + regs
    assert all(m.pax_headers.get("atime") == "0" for m in members)
    with tarfile.open(fileobj=io.BytesIO(_archive(files)), mode="r:") as tar:
        for path, data in files:
            extracted = tar.extractfile(path)
            assert extracted is not None
            assert extracted.read() == data


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        pytest.param([], [], id="nothing"),
        pytest.param(["model.bin"], [], id="root file has no dirs"),
        pytest.param(["a/b/c/m.bin"], ["a/", "a/b/", "a/b/c/"], id="every ancestor"),
        pytest.param(
            ["text_encoder/config.json", "text_encoder/tokenizer.json", "vae/config.json"],
            ["text_encoder/", "vae/"],
            id="deduplicated",
        ),
        pytest.param(["b/x", "a-b/y", "a/z"], ["a-b/", "a/", "b/"], id="byte-wise sort"),
    ],
)
def test_ancestor_dirs_are_sorted_unique_with_trailing_slash(
    paths: list[str], expected: list[str]
) -> None:
    assert ancestor_dirs(paths) == expected


@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 90868376, 2508311120])
def test_single_file_layer_size_matches_cogs_formula(size: int) -> None:
    assert tar_size([("model.safetensors", size)]) == 1024 + 512 + -(-size // 512) * 512 + 1024


def test_standalone_framing_surrounds_the_data_with_dirs_header_padding_and_end() -> None:
    before, after = standalone_framing("a/b/m.bin", 3)
    assert before == dir_entry("a/") + dir_entry("a/b/") + file_header("a/b/m.bin", 3)
    assert after == bytes(509) + END_OF_ARCHIVE


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda: file_header("", 1), "empty", id="empty name"),
        pytest.param(lambda: file_header("a\0b", 1), "NUL", id="NUL in name"),
        pytest.param(lambda: file_header("a", -1), "negative", id="negative size"),
        pytest.param(lambda: dir_entry("a"), "end with", id="directory without slash"),
    ],
)
def test_impossible_entries_are_bugs(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


_SEGMENT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1,
    max_size=40,
).filter(lambda s: s not in {".", ".."})
_PATHS = st.lists(_SEGMENT, min_size=1, max_size=5).map("/".join)


@pytest.mark.slow
@given(
    files=st.dictionaries(_PATHS, st.binary(max_size=700), min_size=1, max_size=6).filter(
        # a path cannot also be a directory of another path
        lambda d: not any(p.startswith(q + "/") for p in d for q in d)
    )
)
def test_any_archive_reads_back_with_tarfile_and_has_the_predicted_size(
    files: dict[str, bytes],
) -> None:
    items = sorted(files.items())
    archive = _archive(items)
    assert len(archive) == tar_size([(p, len(d)) for p, d in items])
    regular = [(m.name, m.size) for m in _read_back(archive) if m.isfile()]
    assert regular == [(p, len(d)) for p, d in items]
