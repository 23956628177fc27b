"""Packing plan (Cog's rules, its quirks included) and the envelope digest."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.packing import (
    GO_FLATE,
    INCOMPRESSIBLE_EXTS,
    MIB,
    PackOptions,
    envelope_extras,
    envelope_fields,
    envelope_format,
    envelope_json,
    file_ext,
    is_standalone_raw,
    plan_layers,
    reusable_layers,
)
from cogw.core.digest import sha256_of
from cogw.core.lock.gojson import go_marshal
from cogw.core.lock.lockfile import MEDIA_TYPE_TAR, MEDIA_TYPE_TAR_GZIP

GOLDEN = Path(__file__).parent / "golden" / "cog_example_weights.lock"
COG_OPTIONS = PackOptions()  # the defaults are Cog's
COG_ENVELOPE = "sha256:ce2d53f8dd962ace393450e0abadbe227304897be87753a503b61f9c8525726e"
TINY = PackOptions(bundle_file_max=10, bundle_size_max=20)


def _file(path: str, size: int) -> InventoryFile:
    return InventoryFile(path, size, sha256_of(path.encode()))


def _shape(files: list[InventoryFile], options: PackOptions) -> list[tuple[list[str], str, Any]]:
    return [
        ([f.path for f in layer.files], layer.media_type, layer.gzip_level)
        for layer in plan_layers(files, options)
    ]


@pytest.mark.parametrize("name", ["parakeet", "minilm"])
def test_plan_groups_files_into_the_layers_cog_recorded(name: str) -> None:
    (raw,) = [w for w in json.loads(GOLDEN.read_bytes())["weights"] if w["name"] == name]
    files = [InventoryFile(f["path"], f["size"], f["digest"]) for f in raw["files"]]
    planned = {
        (frozenset(f.path for f in layer.files), layer.media_type, sum(f.size for f in layer.files))
        for layer in plan_layers(files, COG_OPTIONS)
    }
    recorded = {
        (
            frozenset(f["path"] for f in raw["files"] if f["layer"] == layer["digest"]),
            layer["mediaType"],
            layer["sizeUncompressed"],
        )
        for layer in raw["layers"]
    }
    assert planned == recorded


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param([], [], id="empty inventory gives an empty plan"),
        pytest.param(
            [_file("b", 3), _file("a", 4)],
            [(["a", "b"], MEDIA_TYPE_TAR_GZIP, 9)],
            id="small files bundled in path order",
        ),
        pytest.param(
            [_file("one.json", 3)],
            [(["one.json"], MEDIA_TYPE_TAR_GZIP, -1)],
            id="a one-file bundle gets the large-file level, as Cog chooses by file count",
        ),
        pytest.param(
            [_file("a", 9), _file("a2", 0), _file("b", 10)],
            [(["a", "a2"], MEDIA_TYPE_TAR_GZIP, 9), (["b"], MEDIA_TYPE_TAR_GZIP, -1)],
            id="size equal to bundle_file_max is large",
        ),
        pytest.param(
            [_file("a", 9), _file("b", 9), _file("c", 9)],
            [(["a", "b"], MEDIA_TYPE_TAR_GZIP, 9), (["c"], MEDIA_TYPE_TAR_GZIP, -1)],
            id="a bundle is flushed before it would pass the cap",
        ),
        pytest.param(
            [_file("a", 9), _file("b", 0), _file("c", 9), _file("d", 2)],
            [(["a", "b", "c", "d"], MEDIA_TYPE_TAR_GZIP, 9)],
            id="cap reached exactly keeps the bundle; zero-byte files ride along",
        ),
        pytest.param(
            [_file("z.safetensors", 50), _file("m.BIN", 50), _file("k.dat", 50), _file("s", 1)],
            [
                (["s"], MEDIA_TYPE_TAR_GZIP, -1),
                (["k.dat"], MEDIA_TYPE_TAR_GZIP, -1),
                (["m.BIN"], MEDIA_TYPE_TAR, None),
                (["z.safetensors"], MEDIA_TYPE_TAR, None),
            ],
            id="bundles first, then large files by path; raw tar for incompressible",
        ),
    ],
)
def test_plan_layers_follows_cogs_rules(
    files: list[InventoryFile], expected: list[tuple[list[str], str, Any]]
) -> None:
    assert _shape(files, TINY) == expected


def test_lone_small_file_bigger_than_the_bundle_cap_is_its_own_bundle() -> None:
    options = PackOptions(bundle_file_max=100, bundle_size_max=10)
    files = [_file("a", 5), _file("b", 50), _file("c", 5)]
    assert [x[0] for x in _shape(files, options)] == [["a"], ["b"], ["c"]]


@pytest.mark.parametrize(
    ("path", "ext"),
    [
        ("model.safetensors", ".safetensors"),
        ("dir.d/README", ""),
        ("x.tar.GZ", ".gz"),
        (".gitattributes", ".gitattributes"),
        ("trailing.", "."),
    ],
)
def test_file_ext_is_gos_lowercased_ext_of_the_last_element(path: str, ext: str) -> None:
    assert file_ext(path) == ext


def test_the_incompressible_extensions_are_cogs_seven() -> None:
    assert sorted(INCOMPRESSIBLE_EXTS) == [
        ".bin", ".gguf", ".onnx", ".parquet", ".pt", ".pth", ".safetensors"
    ]  # fmt: skip


@pytest.mark.parametrize("ext", [".h5", ".ckpt", ".npy", ".zip", ".tar", ".gz"])
def test_other_large_files_are_gzipped_as_cog_gzips_them(ext: str) -> None:
    (layer,) = plan_layers([_file("big" + ext, 10)], TINY)
    assert (layer.media_type, layer.gzip_level) == (MEDIA_TYPE_TAR_GZIP, -1)


def test_duplicate_paths_are_a_bug() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        plan_layers([_file("a", 1), _file("a", 2)])


@pytest.mark.parametrize(
    "changes",
    [{"bundle_file_max": 0}, {"bundle_size_max": -1}, {"gzip_level_bundle": 10}],
    ids=["zero file max", "negative size max", "level 10"],
)
def test_invalid_options_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PackOptions(**changes)


_INVENTORIES = st.dictionaries(
    st.text("abcxyz./", min_size=1, max_size=8),
    st.integers(min_value=0, max_value=40),
    max_size=25,
).map(lambda d: [_file(p, s) for p, s in d.items()])


@pytest.mark.slow
@given(files=_INVENTORIES, seed=st.randoms())
def test_every_file_is_planned_once_bundles_respect_the_cap_and_order_does_not_matter(
    files: list[InventoryFile], seed: Any
) -> None:
    plan = plan_layers(files, TINY)
    planned = [f for layer in plan for f in layer.files]
    assert sorted(planned, key=lambda f: f.path) == sorted(files, key=lambda f: f.path)
    for layer in plan:
        if len(layer.files) > 1:
            assert sum(f.size for f in layer.files) <= TINY.bundle_size_max
    shuffled = list(files)
    seed.shuffle(shuffled)
    assert plan_layers(shuffled, TINY) == plan


@pytest.mark.parametrize(
    ("path", "size", "expected"),
    [
        ("model.safetensors", 64 * MIB, True),
        ("shards/Model.GGUF", 1 << 40, True),
        ("model.safetensors", 64 * MIB - 1, False),
        ("model.json", 64 * MIB, False),
        ("safetensors", 64 * MIB, False),
        (".bin", 64 * MIB, True),
    ],
    ids=[
        "at-the-bundle-limit",
        "uppercase-extension-of-a-huge-file",
        "one-byte-under-the-limit",
        "compressible-extension",
        "no-extension",
        "a-dotfile-is-all-extension-as-in-go",
    ],
)
def test_is_standalone_raw_says_which_files_get_their_own_uncompressed_layer(
    path: str, size: int, expected: bool
) -> None:
    assert is_standalone_raw(path, size) is expected


@pytest.mark.slow
@given(files=_INVENTORIES)
def test_is_standalone_raw_agrees_with_the_plan(files: list[InventoryFile]) -> None:
    options = replace(TINY, incompressible_exts=frozenset({".a", ".xy"}))
    raw = {
        layer.files[0].path
        for layer in plan_layers(files, options)
        if layer.media_type == MEDIA_TYPE_TAR
    }
    assert raw == {f.path for f in files if is_standalone_raw(f.path, f.size, options)}


@pytest.mark.parametrize(
    ("options", "digest"),
    [
        pytest.param(
            COG_OPTIONS,
            "sha256:ce2d53f8dd962ace393450e0abadbe227304897be87753a503b61f9c8525726e",
            id="default",
        ),
        pytest.param(
            replace(COG_OPTIONS, bundle_file_max=32 * MIB),
            "sha256:42f28ed027f791b53cbd282663de73971c32d3cad9cbb64de6504cadf42b248f",
            id="BundleFileMax 32 MiB",
        ),
        pytest.param(
            replace(COG_OPTIONS, bundle_size_max=128 * MIB),
            "sha256:3e009edfdfc3c4371ed17572723c4f19d7646a1282646fe008fcb95c955c1547",
            id="BundleSizeMax 128 MiB",
        ),
    ],
)
def test_envelope_fields_reproduce_cogs_snapshot_digests(options: PackOptions, digest: str) -> None:
    assert sha256_of(go_marshal(envelope_fields(options))) == digest


def test_with_gos_compressor_the_envelope_is_cogs_own() -> None:
    assert envelope_extras(GO_FLATE) == {}
    assert envelope_json(PackOptions(), GO_FLATE) == go_marshal(envelope_fields(COG_OPTIONS))
    assert envelope_format(PackOptions(), GO_FLATE) == COG_ENVELOPE


@pytest.mark.parametrize("compressor", ["zlib-1.2.13", "zlib-1.3", "go-compress/flate-2"])
def test_another_compressor_adds_itself_and_the_producer_with_sorted_keys(compressor: str) -> None:
    assert envelope_extras(compressor) == {"compressor": compressor, "producer": "cogw"}
    fields = json.loads(envelope_json(PackOptions(), compressor))
    assert list(fields) == sorted(fields)
    assert fields["compressor"] == compressor
    assert fields["producer"] == "cogw"
    assert fields["gzipLevelLarge"] == -1
    assert fields["revision"] == 1
    assert envelope_format(PackOptions(), compressor) != COG_ENVELOPE


@pytest.mark.parametrize(
    ("options", "compressor"),
    [
        pytest.param(PackOptions(), "zlib-1.3", id="compressor"),
        pytest.param(PackOptions(), GO_FLATE, id="go compressor"),
        pytest.param(PackOptions(bundle_file_max=1), "zlib-1.2.13", id="bundle_file_max"),
        pytest.param(PackOptions(bundle_size_max=1), "zlib-1.2.13", id="bundle_size_max"),
        pytest.param(PackOptions(gzip_level_bundle=8), "zlib-1.2.13", id="gzip_level_bundle"),
        pytest.param(PackOptions(gzip_level_large=5), "zlib-1.2.13", id="gzip_level_large"),
        pytest.param(PackOptions(gzip_level_large=6), GO_FLATE, id="level 6 is not Cog's -1"),
        pytest.param(
            PackOptions(incompressible_exts=frozenset({".bin"})),
            "zlib-1.2.13",
            id="incompressible_exts",
        ),
    ],
)
def test_changing_any_packing_input_changes_the_envelope(
    options: PackOptions, compressor: str
) -> None:
    baseline = envelope_format(PackOptions(), "zlib-1.2.13")
    assert envelope_format(options, compressor) != baseline
    if options != COG_OPTIONS:
        assert envelope_format(options, compressor) != envelope_format(COG_OPTIONS, compressor)


def _recorded_entry(plans):
    from cogw.core.lock.lockfile import LockFile, LockLayer, LockSource, make_entry

    files, layers = [], []
    for i, plan in enumerate(plans):
        digest = "sha256:" + f"{i + 1:x}" * 64
        layers.append(LockLayer(digest, plan.media_type, 1000 + i, sum(f.size for f in plan.files)))
        files += [LockFile(f.path, f.size, f.digest, digest) for f in plan.files]
    return make_entry(
        name="w",
        target="/w",
        source=LockSource("file://./w", "sha256:x"),
        digest="",
        files=files,
        layers=layers,
    )


def test_recorded_layers_are_reused_only_for_the_same_packer_and_file_grouping():
    files = [
        InventoryFile("a.json", 10, "sha256:" + "a" * 64),
        InventoryFile("m.safetensors", 100 << 20, "sha256:" + "b" * 64),
    ]
    plans = plan_layers(files)
    entry = _recorded_entry(plans)
    reused = reusable_layers(plans, entry, same_envelope=True)
    assert reused is not None
    assert [r.digest for r in reused] == ["sha256:" + "1" * 64, "sha256:" + "2" * 64]
    assert reusable_layers(plans, entry, same_envelope=False) is None
    assert reusable_layers(plans, None, same_envelope=True) is None
    edited = [files[0], InventoryFile("m.safetensors", 100 << 20, "sha256:" + "c" * 64)]
    assert reusable_layers(plan_layers(edited), entry, same_envelope=True) is None
