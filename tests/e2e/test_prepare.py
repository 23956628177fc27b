"""`cogw prepare` and `cogw release` through the CLI: output formats, hardlinks into the
store, copy mode, a cache on another filesystem, and releasing mounts by ID or all at once.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cogw.core.cache.cachedir import cross_filesystem_problem
from cogw.shell.fs import RACE_WINDOW_ENV, remove_tree
from tests.e2e.conftest import COGW, SMALL_FILES, Project, mount_sources, tree, write_tree
from tests.fixtures.registry import RunningRegistry

pytestmark = pytest.mark.registry

TWO_WEIGHTS = """weights:
  - name: alpha
    target: /src/weights/alpha
    source:
      uri: weights/alpha
  - name: beta
    target: /srv/beta
    source:
      uri: weights/beta
"""
BETA_FILES = {"model.bin": os.urandom(1 << 16), "deep/er/file.txt": b"beta\n"}
MOUNT_ID = re.compile(r"^[0-9a-f]{16}$")


@pytest.fixture
def project(tmp_path: Path, registry: RunningRegistry, request: pytest.FixtureRequest) -> Project:
    """The shared project fixture, with a repository name valid for parametrized test ids."""
    directory = tmp_path / "project"
    directory.mkdir()
    repo = "prepare/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:60].strip("-")
    return Project(directory, tmp_path / "cache", registry, repo)


@pytest.fixture
def imported(project: Project) -> Project:
    """Two weights imported, then the cache emptied and pulled again from the registry."""
    write_tree(project.dir / "weights" / "alpha", SMALL_FILES)
    write_tree(project.dir / "weights" / "beta", BETA_FILES)
    project.write_config(TWO_WEIGHTS)
    assert project.run("import", "-q").exit_code == 0
    shutil.rmtree(project.cache)
    pulled = project.run("pull", "-q")
    assert pulled.exit_code == 0, pulled.stderr
    return project


def mounts_dir(project: Project) -> Path:
    return project.dir / ".cog" / "mounts"


def mount_ids(project: Project) -> list[str]:
    root = mounts_dir(project)
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def store_blob(project: Project, data: bytes) -> Path:
    import hashlib

    hexdigest = hashlib.sha256(data).hexdigest()
    return project.cache / "weights" / "files" / "sha256" / hexdigest[:2] / hexdigest


def prepare_json(project: Project, *args: str) -> tuple[str, dict[str, Path]]:
    result = project.run("prepare", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["id"], {
        t: Path(s) for t, s in mount_sources(result.stdout).items()
    }


# --- output formats ----------------------------------------------------------------------


def test_json_output_names_the_mount_id_and_each_weight_directory(imported: Project) -> None:
    result = imported.run("prepare", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert MOUNT_ID.match(out["id"]) and mount_ids(imported) == [out["id"]]
    root = mounts_dir(imported) / out["id"]
    assert out["mounts"] == [
        {"source": str(root / "alpha"), "target": "/src/weights/alpha", "readOnly": True},
        {"source": str(root / "beta"), "target": "/srv/beta", "readOnly": True},
    ]
    assert tree(root / "alpha") == SMALL_FILES and tree(root / "beta") == BETA_FILES


def test_docker_output_is_one_line_of_read_only_volume_flags(imported: Project) -> None:
    result = imported.run("prepare", "--docker")
    assert result.exit_code == 0, result.stderr
    (mount_id,) = mount_ids(imported)
    root = mounts_dir(imported) / mount_id
    assert result.stdout == f"-v {root}/alpha:/src/weights/alpha:ro -v {root}/beta:/srv/beta:ro\n"


def test_text_output_lists_mounts_on_stdout_and_how_to_release_on_stderr(
    imported: Project,
) -> None:
    result = imported.run("prepare")
    assert result.exit_code == 0, result.stderr
    (mount_id,) = mount_ids(imported)
    root = mounts_dir(imported) / mount_id
    assert result.stdout.splitlines() == [
        f"{root}/alpha -> /src/weights/alpha (read-only)",
        f"{root}/beta -> /srv/beta (read-only)",
    ]
    assert f"Prepared mounts {mount_id} (release with: cogw release {mount_id})" in result.stderr


def test_docker_output_survives_a_project_path_with_spaces(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    spaced = Project(tmp_path / "my project", tmp_path / "cache", registry, "prepare/spaced-path")
    write_tree(spaced.dir / "weights" / "beta", BETA_FILES)
    spaced.write_config(TWO_WEIGHTS.split("  - name: beta")[0].replace("alpha", "beta"))
    assert spaced.run("import", "-q").exit_code == 0
    result = spaced.run("prepare", "--docker")
    assert result.exit_code == 0, result.stderr
    flag, volume = shlex.split(result.stdout)
    source, target, mode = volume.rsplit(":", 2)
    assert (flag, target, mode) == ("-v", "/src/weights/beta", "ro")
    assert tree(Path(source)) == BETA_FILES


def test_json_and_docker_together_are_a_usage_error(imported: Project) -> None:
    result = imported.run("prepare", "--json", "--docker")
    assert result.exit_code == 2
    assert mount_ids(imported) == []


def test_naming_a_weight_prepares_only_that_weight(imported: Project) -> None:
    _, mounts = prepare_json(imported, "beta")
    assert list(mounts) == ["/srv/beta"]
    assert tree(mounts["/srv/beta"]) == BETA_FILES


# --- how files enter the mount -------------------------------------------------------------


def test_mount_files_are_read_only_hardlinks_of_the_store_blobs(imported: Project) -> None:
    _, mounts = prepare_json(imported)
    for target, files in (("/src/weights/alpha", SMALL_FILES), ("/srv/beta", BETA_FILES)):
        for rel, data in files.items():
            linked = (mounts[target] / rel).stat()
            blob = store_blob(imported, data).stat()
            assert (linked.st_dev, linked.st_ino) == (blob.st_dev, blob.st_ino), rel
            assert linked.st_nlink > 1
            assert stat.S_IMODE(linked.st_mode) == 0o444, oct(linked.st_mode)  # any UID reads


def test_copy_mode_gives_independent_files_that_cannot_touch_the_store(imported: Project) -> None:
    _, mounts = prepare_json(imported, "--link-mode", "copy")
    copied = mounts["/srv/beta"] / "model.bin"
    blob = store_blob(imported, BETA_FILES["model.bin"])
    assert copied.stat().st_ino != blob.stat().st_ino
    assert copied.stat().st_nlink == 1 and blob.stat().st_nlink == 1
    assert copied.read_bytes() == BETA_FILES["model.bin"]
    copied.chmod(0o644)
    copied.write_bytes(b"scribbled over")
    assert blob.read_bytes() == BETA_FILES["model.bin"]
    assert imported.run("status").exit_code == 0


def test_reflink_mode_on_a_filesystem_without_reflinks_is_an_error_not_a_copy(
    imported: Project,
) -> None:
    result = imported.run("prepare", "--link-mode", "reflink")
    if result.exit_code == 0:
        pytest.skip("this filesystem makes reflinks")
    assert result.exit_code == 1
    assert "does not support reflinks" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == "" and mount_ids(imported) == []


def test_prepare_pull_that_cannot_fetch_a_weight_leaves_no_mount(imported: Project) -> None:
    lock = json.loads(imported.lock.read_bytes())
    lock["weights"][1]["digest"] = "sha256:" + "0" * 64
    imported.lock.write_text(json.dumps(lock, indent=2))
    (imported.cache / "weights" / "files").rename(imported.cache / "elsewhere")

    result = imported.run("prepare", "--pull", "--json")
    assert result.exit_code == 1
    outcome = json.loads(result.stdout)
    assert outcome["exitCode"] == 1 and mount_ids(imported) == []
    errors = [r["error"]["summary"] for r in outcome["results"] if r["error"]]
    assert any("MANIFEST_UNKNOWN" in e for e in errors)
    assert {r["weight"] for r in outcome["results"] if r["status"] == "failed"} >= {"beta"}


# --- a cache on another filesystem -----------------------------------------------------------


def _try_tmpfs(directory: Path) -> bool:
    directory.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(directory)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.fixture
def foreign_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on a filesystem other than tmp_path's: a fresh tmpfs, else /dev/shm."""
    mounted = tmp_path / "tmpfs"
    if _try_tmpfs(mounted):
        yield mounted
        subprocess.run(["umount", str(mounted)], check=False, capture_output=True)
        return
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a second filesystem: mount -t tmpfs failed and /dev/shm is unusable")
    directory = shm / f"cogw-test-{uuid.uuid4().hex}"
    directory.mkdir()
    yield directory
    remove_tree(directory)


def test_a_cache_on_another_filesystem_fails_prepare_with_cache_dir_advice(
    imported: Project, foreign_dir: Path
) -> None:
    foreign = Project(imported.dir, foreign_dir / "cache", imported.registry, imported.repo)
    pulled = foreign.run("pull", "-q")
    assert pulled.exit_code == 0, pulled.stderr
    result = foreign.run("prepare")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert "different filesystems" in result.stderr
    assert "--cache-dir" in result.stderr and "COG_CACHE_DIR" in result.stderr
    assert "--link-mode copy" in result.stderr
    lines = [line for line in result.stderr.splitlines() if str(foreign.dir.parent) not in line]
    assert all(len(line) <= 100 for line in lines), result.stderr
    assert result.stdout == ""
    assert mount_ids(imported) == []


def test_plan_prepare_finds_a_cache_on_another_filesystem_and_json_fills_the_hint(
    imported: Project, foreign_dir: Path
) -> None:
    foreign = Project(imported.dir, foreign_dir / "cache", imported.registry, imported.repo)
    assert foreign.run("pull", "-q").exit_code == 0
    planned = foreign.run("plan", "prepare")
    assert planned.exit_code == 1
    assert "Nothing to do." not in planned.stdout
    assert "different filesystems" in planned.stderr and "--link-mode copy" in planned.stderr
    assert foreign.run("plan", "prepare", "--link-mode", "copy").exit_code == 0
    as_json = foreign.run("prepare", "--json")
    assert as_json.exit_code == 1
    (problem,) = json.loads(as_json.stdout)["problems"]
    assert "different filesystems" in problem["summary"]
    assert "--link-mode copy" in problem["hint"] and "--cache-dir" in problem["hint"]
    assert mount_ids(imported) == []


def test_a_link_that_crosses_filesystems_after_the_plan_passed_says_what_the_plan_would(
    imported: Project, foreign_dir: Path
) -> None:
    # The store root stays on the project's filesystem (so the plan's check passes) while
    # its blobs move to another one: every hardlink then fails with EXDEV.
    files = imported.cache / "weights" / "files"
    shutil.copytree(files, foreign_dir / "files", symlinks=True)
    remove_tree(files)
    files.symlink_to(foreign_dir / "files")
    assert imported.run("plan", "prepare").exit_code == 0

    result = imported.run("prepare")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr and "underlying error" not in result.stderr
    store = str(imported.cache / "weights")
    error = result.stderr[result.stderr.index("error: ") :].splitlines()
    assert error == [
        "error: the cache and the project are on different filesystems; hardlinks cannot cross",
        f"  cache: {store}",
        f"  project: {imported.dir}",
        "  hint: use --link-mode copy,",
        "        or put the cache on the project's filesystem:"
        " --cache-dir DIR or COG_CACHE_DIR=DIR",
    ]
    assert result.stderr.count(store) == 1
    assert mount_ids(imported) == []

    as_json = imported.run("prepare", "--json")
    assert as_json.exit_code == 1
    failed = [r for r in json.loads(as_json.stdout)["results"] if r["error"]]
    assert [r["weight"] for r in failed] == ["alpha"]
    assert failed[0]["error"] == cross_filesystem_problem(store, str(imported.dir)).to_json()
    assert "--link-mode copy" in failed[0]["error"]["hint"]
    assert mount_ids(imported) == []


def test_copy_mode_works_across_filesystems(imported: Project, foreign_dir: Path) -> None:
    foreign = Project(imported.dir, foreign_dir / "cache", imported.registry, imported.repo)
    assert foreign.run("pull", "-q").exit_code == 0
    result = foreign.run("prepare", "--json", "--link-mode", "copy")
    assert result.exit_code == 0, result.stderr
    assert tree(Path(mount_sources(result.stdout)["/srv/beta"])) == BETA_FILES


# --- release ------------------------------------------------------------------------------------


def test_release_by_id_removes_only_that_mount_and_all_removes_the_rest(
    imported: Project,
) -> None:
    first, _ = prepare_json(imported)
    second, mounts = prepare_json(imported)
    assert first != second and mount_ids(imported) == sorted([first, second])
    blob = store_blob(imported, BETA_FILES["model.bin"])
    assert blob.stat().st_nlink == 3

    released = imported.run("release", first)
    assert released.exit_code == 0, released.stderr
    assert "Released 1 mount(s)." in released.stderr
    assert mount_ids(imported) == [second]
    assert tree(mounts["/srv/beta"]) == BETA_FILES

    prepare_json(imported)
    everything = imported.run("release", "--all")
    assert everything.exit_code == 0 and "Released 2 mount(s)." in everything.stderr
    assert mount_ids(imported) == []
    assert blob.read_bytes() == BETA_FILES["model.bin"] and blob.stat().st_nlink == 1
    assert imported.run("release", "--all").stderr == "No mounts to release.\n"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("not-a-mount",), 1, "invalid mount id 'not-a-mount'"),
        (("../../etc",), 1, "invalid mount id"),
        (("0123456789abcdef",), 1, "no mount 0123456789abcdef"),
        ((), 2, "give a mount ID or --all"),
        (("0123456789abcdef", "--all"), 2, "give a mount ID or --all"),
    ],
    ids=["malformed", "path-escape", "unknown", "neither", "both"],
)
def test_a_bad_release_request_is_a_clear_error_that_removes_nothing(
    args: tuple[str, ...], code: int, message: str, imported: Project
) -> None:
    kept, _ = prepare_json(imported)
    result = imported.run("release", *args)
    assert result.exit_code == code
    assert message in result.stderr and "Traceback" not in result.stderr
    assert mount_ids(imported) == [kept]


def test_a_mount_survives_a_later_prepare_failure(imported: Project) -> None:
    kept, mounts = prepare_json(imported)
    shutil.rmtree(imported.cache)
    failed = imported.run("prepare")
    assert failed.exit_code == 1 and "cogw pull" in failed.stderr
    assert mount_ids(imported) == [kept]
    assert tree(mounts["/src/weights/alpha"]) == SMALL_FILES


# --- paths never escape ----------------------------------------------------------------------


@pytest.mark.parametrize("link", [".cog", ".cog/mounts"])
def test_a_symlinked_cog_or_mounts_dir_is_refused_by_prepare_and_release(
    imported: Project, tmp_path: Path, link: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    victim = elsewhere / "0123456789abcdef"
    victim.mkdir(parents=True)
    (victim / "precious").write_bytes(b"not cogw's")
    real = imported.dir / link
    if real.exists():
        import shutil

        shutil.rmtree(real)
    real.parent.mkdir(parents=True, exist_ok=True)
    real.symlink_to(elsewhere)

    prepared = imported.run("prepare")
    assert prepared.exit_code == 1
    assert "is a symbolic link; cogw does not follow it" in prepared.output
    released = imported.run("release", "--all")
    assert released.exit_code == 1 and "is a symbolic link" in released.stderr
    assert "Traceback" not in prepared.output + released.output
    assert sorted(p.name for p in elsewhere.iterdir()) == ["0123456789abcdef"]
    assert (victim / "precious").read_bytes() == b"not cogw's"


def test_release_removes_only_directories_cogws_marker_identifies(imported: Project) -> None:
    mine, _ = prepare_json(imported)
    assert (mounts_dir(imported) / mine / ".cogw-mount").is_file()
    foreign = mounts_dir(imported) / "fedcba9876543210"
    (foreign / "w").mkdir(parents=True)
    (foreign / "w" / "data").write_bytes(b"someone else's")

    by_id = imported.run("release", foreign.name)
    assert by_id.exit_code == 1 and "was not made by cogw" in by_id.stderr
    everything = imported.run("release", "--all")
    assert everything.exit_code == 0 and "Released 1 mount(s)." in everything.stderr
    assert mount_ids(imported) == [foreign.name]
    assert (foreign / "w" / "data").read_bytes() == b"someone else's"


def plant_cog_mount(project: Project, extra: dict[str, bytes] | None = None) -> Path:
    """A mount shaped as Cog's Prepare makes it: no marker, ``<16 hex>/<weight>/<path>``,
    every file a hardlink of its store blob (directories 0755, as Cog's MkdirAll)."""
    root = mounts_dir(project) / uuid.uuid4().hex[:16]
    for weight, files in (("alpha", SMALL_FILES), ("beta", BETA_FILES)):
        for rel, data in files.items():
            dst = root / weight / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(store_blob(project, data), dst)
    write_tree(root, extra or {})
    return root


def test_release_removes_a_mount_shaped_like_cogs_and_keeps_the_blobs(imported: Project) -> None:
    by_id, by_all = plant_cog_mount(imported), plant_cog_mount(imported)
    blob = store_blob(imported, BETA_FILES["model.bin"])
    assert blob.stat().st_nlink == 3
    one = imported.run("release", by_id.name)
    assert one.exit_code == 0, one.stderr
    assert not by_id.exists() and by_all.exists()
    rest = imported.run("release", "--all")
    assert rest.exit_code == 0 and "Released 1 mount(s)." in rest.stderr
    assert mount_ids(imported) == []
    assert blob.stat().st_nlink == 1 and blob.read_bytes() == BETA_FILES["model.bin"]


FOREIGN = (
    "a file that is not a blob",
    "a copy of a blob",
    "a symlink",
    "a blob beside the weights",
)


def _spoil(project: Project, root: Path, foreign: str, outside: Path) -> None:
    if foreign == FOREIGN[0]:
        (root / "beta" / "notes.txt").write_bytes(b"someone else's")
    elif foreign == FOREIGN[1]:
        (root / "beta" / "copy.bin").write_bytes(BETA_FILES["model.bin"])
    elif foreign == FOREIGN[2]:
        (root / "beta" / "elsewhere").symlink_to(outside)
    else:
        os.link(store_blob(project, BETA_FILES["model.bin"]), root / "model.bin")


def test_a_cog_shaped_mount_holding_anything_else_is_left_alone(
    imported: Project, tmp_path: Path
) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep").write_bytes(b"mine")
    spoilt = {}
    for foreign in FOREIGN:
        root = plant_cog_mount(imported)
        _spoil(imported, root, foreign, outside)
        spoilt[root] = tree(root)
        by_id = imported.run("release", root.name)
        assert by_id.exit_code == 1, foreign
        assert "was not made by cogw or Cog" in by_id.stderr, foreign
    everything = imported.run("release", "--all")
    assert everything.exit_code == 0 and "No mounts to release." in everything.stderr
    for root, before in spoilt.items():
        assert f"left alone: {root.name}" in everything.stderr
        assert tree(root) == before
    assert (outside / "keep").read_bytes() == b"mine"


def test_an_empty_unmarked_directory_is_left_alone_and_an_abandoned_build_is_not(
    imported: Project,
) -> None:
    empty = mounts_dir(imported) / "0123456789abcdef" / "w"
    empty.mkdir(parents=True)
    abandoned = mounts_dir(imported) / "abcdef0123456789"
    (abandoned / "alpha").mkdir(parents=True)
    (abandoned / ".cogw-mount.building").write_bytes(b"")  # prepare killed before the rename
    done = imported.run("release", "--all")
    assert done.exit_code == 0 and "Released 1 mount(s)." in done.stderr
    assert empty.is_dir() and not abandoned.exists()


def test_a_mount_dir_holds_only_weight_dirs_beside_the_marker(imported: Project) -> None:
    mount_id, mounts = prepare_json(imported)
    root = mounts_dir(imported) / mount_id
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [".cogw-mount", *(p.name for p in mounts.values())]
    )
    for source in mounts.values():
        assert ".cogw-mount" not in {p.name for p in source.rglob("*")}


@pytest.mark.parametrize("damage", ["appended", "made-writable"])
def test_prepare_refuses_a_blob_written_through_a_mount(imported: Project, damage: str) -> None:
    _, mounts = prepare_json(imported)
    blob = store_blob(imported, BETA_FILES["model.bin"])
    if damage == "appended":  # what root can do through a read-write bind mount
        blob.chmod(0o644)
        with open(mounts["/srv/beta"] / "model.bin", "ab") as out:
            out.write(b"corrupt")
        blob.chmod(0o444)
    else:
        blob.chmod(0o644)
    before = mount_ids(imported)
    again = imported.run("prepare")
    assert again.exit_code == 1
    assert "was changed after it was stored" in again.output
    assert "Traceback" not in again.output
    assert mount_ids(imported) == before


def test_prepare_and_release_do_not_wait_for_cog_lock_held_through_a_cog_build(
    imported: Project,
) -> None:
    """Cog holds .cog/cog.lock through a whole `cog build` or weights import."""
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from cogw.shell.fs import project_lock\n"
            "with project_lock(Path(sys.argv[1])):\n print('held', flush=True); time.sleep(60)",
            str(imported.dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        env = {**os.environ, "COG_CACHE_DIR": str(imported.cache)}
        for args in (["prepare", "-q"], ["release", "--all"]):
            done = subprocess.run(
                [COGW, *args, "--project", str(imported.dir)],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert done.returncode == 0, done.stderr
    finally:
        holder.kill()
        holder.wait()
    assert mount_ids(imported) == []


# --- concurrency ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_concurrent_prepare_release_and_pull_never_leave_an_incomplete_mount(
    imported: Project,
) -> None:
    """5 rounds of prepare, release --all and pull at once, as processes.

    The race window hook pauses each prepare between linked files and each release
    before each removal, so the rounds meet the races the locks are for: without the
    project lock two releases remove one mount at once and one of them fails, and
    without any lock a release empties a mount a prepare is still filling."""
    import shutil
    import subprocess
    import sys

    cogw = shutil.which("cogw", path=str(Path(sys.executable).parent)) or "cogw"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(imported.dir),
        "COG_CACHE_DIR": str(imported.cache),
        RACE_WINDOW_ENV: "0.02",
    }

    def start(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [cogw, *args, "--project", str(imported.dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    failures = []
    for _ in range(5):
        plant_cog_mount(imported)  # removed link by link, so two releases at once collide
        procs = [start("prepare", "--json"), start("release", "--all"), start("pull")]
        procs += [start("prepare", "--json"), start("release", "--all")]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            if proc.returncode != 0:
                failures.append((proc.args, proc.returncode, err))
    assert failures == []
    for mount_id in mount_ids(imported):
        root = mounts_dir(imported) / mount_id
        assert (root / ".cogw-mount").is_file()
        assert tree(root / "beta") == BETA_FILES
        for rel, data in BETA_FILES.items():
            assert (root / "beta" / rel).stat().st_ino == store_blob(imported, data).stat().st_ino
