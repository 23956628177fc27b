"""Plan, apply, plan again: the real planner and executor must converge.

A state machine (hypothesis' RuleBasedStateMachine, like Flocker's
``run_to_convergence`` and pyrsistent's vector machine) keeps a real project
directory (cog.yaml and weights.lock written here), a real FileStore and an
in-memory FakeRegistry. Weights are made in memory from small generated files,
packed with the real packer (plan_layers + stream_layer) and pushed as real
OCI artifacts (config_blob + manifest_bytes), so the executor sees exactly
what an import would have left behind.

The model is small on purpose: which weights are locked (in lock order) and
which cog.yaml declares; the FakeRegistry says which layers and manifests are
broken (lost, corrupted, or replaced by a well-formed impostor). Everything
else is observed through gather_snapshot, as the CLI observes it. The
registry serves 512-byte chunks so a reader that stops at the tar's end
leaves bytes unread, as it would over HTTP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import stat
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from pyrsistent import pvector

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.oci import MEDIA_TYPE_MANIFEST, config_blob, manifest_bytes, weight_tag
from cogw.core.artifact.packing import (
    GO_FLATE,
    LayerPlan,
    PackOptions,
    envelope_format,
    plan_layers,
)
from cogw.core.digest import sha256_of
from cogw.core.lock.lockfile import (
    LockFile,
    Lockfile,
    LockLayer,
    WeightEntry,
    make_entry,
    make_source,
    render_lockfile,
)
from cogw.core.lock.setdigest import dir_hash
from cogw.core.plan.events import Event, EventKind
from cogw.core.plan.outcome import StepResult, StepStatus, mounts
from cogw.core.plan.planner import FetchLayer, Operation, Plan, PruneLockEntry, make_plan
from cogw.core.plan.snapshot import Snapshot
from cogw.core.plan.status import WeightStatus, make_status
from cogw.shell.execute import execute
from cogw.shell.fs import remove_tree
from cogw.shell.gather import Project, gather_snapshot
from cogw.shell.layers import stream_layer
from cogw.shell.prepare import mounts_root
from cogw.shell.registry import RegistryDigestMismatch, RegistryNotFound
from cogw.shell.release import release
from cogw.shell.runtime import Runtime
from cogw.shell.store import TEMP_PREFIX, FileStore
from tests.fakes_registry import FakeRegistry

pytestmark = pytest.mark.slow

REPO = "acme/model"
COMPRESSOR = GO_FLATE
# Tiny limits so a handful of bytes still gives bundles, standalone gzip layers
# and raw tar layers (.bin/.safetensors/.gz are incompressible extensions).
OPTIONS = PackOptions(bundle_file_max=48, bundle_size_max=96)
PATHS = ("README.md", "config.json", "model.bin", "sub/tok.txt", "sub/deep/w.safetensors", "x.gz")
# Ops whose plans need no source inventories (import and sync hash sources).
LOCK_OPERATIONS = (Operation.PULL, Operation.PREPARE, Operation.PRUNE)

weight_files = st.dictionaries(
    st.sampled_from(PATHS), st.binary(max_size=120), min_size=1, max_size=4
)


@dataclass(frozen=True, slots=True)
class BuiltWeight:
    """A weight as an import leaves it: its lock entry, file bytes and registry blobs."""

    entry: WeightEntry
    contents: dict[str, bytes]
    layers: dict[str, bytes]
    plans: dict[str, LayerPlan]  # how each layer was packed, to pack impostors alike
    config: bytes
    manifest: bytes


Packed = tuple[list[LockFile], list[LockLayer], dict[str, bytes], dict[str, LayerPlan]]


def _pack(files: dict[str, bytes]) -> Packed:
    inventory = [InventoryFile(p, len(b), sha256_of(b)) for p, b in sorted(files.items())]
    lock_files: list[LockFile] = []
    layers: list[LockLayer] = []
    blobs: dict[str, bytes] = {}
    plans: dict[str, LayerPlan] = {}
    for plan in plan_layers(inventory, OPTIONS):
        blob = b"".join(stream_layer(plan, lambda f: io.BytesIO(files[f.path])))
        digest = sha256_of(blob)
        blobs[digest] = blob
        plans[digest] = plan
        layers.append(
            LockLayer(digest, plan.media_type, len(blob), sum(f.size for f in plan.files))
        )
        lock_files += [LockFile(f.path, f.size, f.digest, digest) for f in plan.files]
    return lock_files, layers, blobs, plans


def build_weight(name: str, files: dict[str, bytes]) -> BuiltWeight:
    lock_files, layers, blobs, plans = _pack(files)
    fingerprint = dir_hash((f.path, f.digest) for f in lock_files)
    entry = make_entry(
        name=name,
        target=f"/src/weights/{name}",
        source=make_source(f"file://./weights/{name}", fingerprint),
        digest="",  # the manifest does not include its own digest; filled in below
        files=lock_files,
        layers=layers,
    )
    config = config_blob(entry)
    manifest = manifest_bytes(entry, config)
    entry = dataclasses.replace(entry, digest=sha256_of(manifest))
    return BuiltWeight(entry, dict(files), blobs, plans, config, manifest)


def impostor_layer(weight: BuiltWeight, digest: str) -> bytes:
    """A well-formed layer packed like ``digest`` whose files have every byte inverted:
    same names and sizes, wrong contents (only the per-file digests can tell)."""
    return b"".join(
        stream_layer(
            weight.plans[digest],
            lambda f: io.BytesIO(bytes(b ^ 0xFF for b in weight.contents[f.path])),
        )
    )


def push_weight(registry: FakeRegistry, weight: BuiltWeight) -> None:
    for digest, blob in [*weight.layers.items(), (sha256_of(weight.config), weight.config)]:
        registry.push_blob(REPO, digest, len(blob), functools.partial(iter, [blob]))
    tag = weight_tag(weight.entry.name, weight.entry.set_digest)
    registry.put_manifest(REPO, tag, weight.manifest, MEDIA_TYPE_MANIFEST)


def config_yaml(names: list[str]) -> str:
    lines = ["build:", "  python_version: '3.11'", "image: 127.0.0.1:5000/acme/model"]
    if names:
        lines.append("weights:")
    for name in names:
        lines += [
            f"  - name: {name}",
            f"    target: /src/weights/{name}",
            "    source:",
            f"      uri: weights/{name}",
        ]
    return "\n".join(lines) + "\n"


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _summary(results: list[StepResult]) -> str:
    if not results:
        return "nothing to do"
    return "some steps failed" if any(r.status is StepStatus.FAILED for r in results) else "done"


def _count(label: str) -> None:
    """Tell hypothesis' statistics which branches ran (--hypothesis-show-statistics)."""
    with contextlib.suppress(InvalidArgument):  # a hand-run example, outside hypothesis
        event(label)


class PlanApplyConvergence(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.scratch = Path(tempfile.mkdtemp(prefix="cogw-converge-"))
        project_dir = self.scratch / "project"
        project_dir.mkdir()
        self.project = Project(project_dir, project_dir / "cog.yaml", "cog.yaml")
        self.store = FileStore(self.scratch / "weights")
        self.registry = FakeRegistry(max_chunk=512)
        self.events: list[Event] = []
        self.locked: dict[str, BuiltWeight] = {}  # weights.lock entries, in lock order
        self.declared: list[str] = []  # cog.yaml weights, in order (some maybe pending)
        self.known_files: set[str] = set()  # every file digest ever generated
        self.counter = 0
        self._write_config()

    def teardown(self) -> None:
        remove_tree(self.scratch)

    # ---- the project as the model says it is ----------------------------------------

    def _write_config(self) -> None:
        self.project.config_path.write_text(config_yaml(self.declared))

    def _expected_lock(self) -> bytes:
        entries = pvector(w.entry for w in self.locked.values())
        envelope = envelope_format(PackOptions(), COMPRESSOR)
        return render_lockfile(Lockfile(envelope_format=envelope, weights=entries))

    def _gather(self) -> Snapshot:
        return gather_snapshot(self.project, self.store.exists, COMPRESSOR).unwrap()

    def _runtime(self) -> Runtime:
        return Runtime(
            self.project,
            self.store,
            registry=lambda: (self.registry, REPO),
            on_event=self.events.append,
            jobs=2,
        )

    def _orphans(self) -> set[str]:
        return set(self.locked) - set(self.declared)

    def _pending(self) -> set[str]:
        return set(self.declared) - set(self.locked)

    def _layer_digests(self) -> list[str]:
        return sorted({d for w in self.locked.values() for d in w.layers})

    # ---- rules: the world changes ------------------------------------------------------

    @rule(files=weight_files)
    def declare_an_imported_weight(self, files: dict[str, bytes]) -> None:
        name = f"w{self.counter}"
        self.counter += 1
        weight = build_weight(name, files)
        push_weight(self.registry, weight)
        self.locked[name] = weight
        self.declared.append(name)
        self.known_files |= {f.digest for f in weight.entry.files}
        self.project.lock_path.write_bytes(self._expected_lock())
        self._write_config()

    @rule()
    def declare_a_weight_never_imported(self) -> None:
        self.declared.append(f"p{self.counter}")
        self.counter += 1
        self._write_config()

    @precondition(lambda self: self.declared)
    @rule(data=st.data())
    def forget_a_weight_in_cog_yaml(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self.declared), label="forget")
        self.declared.remove(name)
        self._write_config()

    @precondition(lambda self: self._orphans())
    @rule(data=st.data())
    def declare_an_orphan_again(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self._orphans())), label="redeclare")
        self.declared.append(name)
        self._write_config()

    @precondition(lambda self: any(True for _ in self.store.list()))
    @rule(data=st.data())
    def lose_blobs_from_the_store(self, data: st.DataObject) -> None:
        present = [info.digest for info in self.store.list()]
        lost = data.draw(st.lists(st.sampled_from(present), min_size=1, unique=True), label="lose")
        for digest in lost:
            self.store.delete(digest)

    @precondition(lambda self: self.locked)
    @rule(
        data=st.data(),
        how=st.sampled_from(["flip", "impostor", "lose", "lose-manifest"]),
        offset=st.integers(0),
    )
    def break_a_registry_layer(self, data: st.DataObject, how: str, offset: int) -> None:
        """Flip the byte at ``offset`` (modulo the size), serve a well-formed layer with
        wrong file contents, lose the blob, or lose the weight's manifest."""
        name, digest = data.draw(
            st.sampled_from([(n, d) for n, w in self.locked.items() for d in sorted(w.layers)]),
            label="break",
        )
        weight = self.locked[name]
        if how == "flip":
            self.registry.corrupt_blob(digest, offset)
        elif how == "impostor":
            self.registry.replace_blob(digest, impostor_layer(weight, digest))
        elif how == "lose-manifest":
            self.registry.lose_blob(weight.entry.digest)
        else:
            self.registry.lose_blob(digest)

    @precondition(lambda self: self.registry.broken())
    @rule(data=st.data())
    def repair_a_registry_layer(self, data: st.DataObject) -> None:
        digest = data.draw(st.sampled_from(sorted(self.registry.broken())), label="repair")
        self.registry.restore_blob(digest)

    # ---- rules: apply ------------------------------------------------------------------

    def _apply(self, plan: Plan, rt: Runtime | None = None) -> list[StepResult]:
        """Execute, checking the registry was asked for exactly the plan's fetches and
        that every file an event reports as stored is in the store."""
        before = len(self.registry.calls)
        self.events.clear()
        results = execute(plan, rt or self._runtime())
        stored = [e.file_digest for e in self.events if e.kind is EventKind.FILE_STORED]
        assert all(self.store.exists(d) for d in stored)
        asked = self.registry.calls[before:]
        fetches = [s for s in plan.steps if isinstance(s, FetchLayer)]
        # A weight whose manifest cannot be fetched has none of its layers requested.
        listed = [s for s in fetches if s.manifest not in self.registry.broken()]
        # A corrupted layer is fetched once more from scratch before its step fails.
        # A lost one answers 404 whatever else was done to it, and is not retried.
        retried = [
            s
            for s in listed
            if s.layer.digest in self.registry.corrupted
            and s.layer.digest not in self.registry.lost
        ]
        assert Counter(c.ref for c in asked if c.method == "iter_blob") == Counter(
            s.layer.digest for s in [*listed, *retried]
        )
        assert sorted(c.ref for c in asked if c.method == "get_manifest") == sorted(
            {s.manifest for s in fetches}
        )
        return results

    def _check_fetch_results(self, results: list[StepResult]) -> None:
        """A fetch fails exactly when its registry layer or manifest is broken."""
        for result in results:
            if isinstance(result.step, FetchLayer):
                failed = result.status is StepStatus.FAILED
                assert failed == self._unfetchable(result.step), result

    def _unfetchable(self, step: FetchLayer) -> bool:
        broken = self.registry.broken()
        return step.layer.digest in broken or step.manifest in broken

    @rule(data=st.data())
    def apply_pull(self, data: st.DataObject) -> None:
        """Pull everything cog.yaml declares, or the named weights (orphans included)."""
        some = st.lists(st.sampled_from(sorted(self.locked)), unique=True, max_size=2)
        self.pull(data.draw(some if self.locked else st.just([]), label="names"))

    def pull(self, names: list[str]) -> None:
        asked = list(names)
        plan = make_plan(self._gather(), Operation.PULL, names)
        assert names == asked, "the planner must not change the names it is given"
        assert plan.applyable, plan.problems
        chosen = set(names) if names else set(self.declared)
        assert {s.weight for s in plan.steps if isinstance(s, FetchLayer)} <= chosen
        if not names:
            for orphan in self._orphans():
                assert any(n.startswith(f"{orphan}: removed from cog.yaml") for n in plan.notes)
            for pending in self._pending():
                assert any(n.startswith(f"{pending}: not imported yet") for n in plan.notes)
        results = self._apply(plan)
        self._check_fetch_results(results)
        _count(f"pull: {_summary(results)}")
        after = self._gather()
        remaining = make_plan(after, Operation.PULL, names)
        left = [s for s in remaining.steps if isinstance(s, FetchLayer)]
        assert len(left) == len(remaining.steps)
        if all(r.status is StepStatus.DONE for r in results):
            assert remaining.is_empty, remaining.steps  # convergence
            if not names:
                self._check_ready(after)
        # The next pull fetches only layers that failed (some of their files may
        # have been stored, verified, before the failure).
        assert all(self._unfetchable(s) for s in left), left

    def _check_ready(self, snapshot: Snapshot) -> None:
        """After a full pull every imported weight is ready and the rest say why not."""
        expected = {n: WeightStatus.READY for n in self.declared if n in self.locked}
        expected |= {n: WeightStatus.PENDING for n in self._pending()}
        expected |= {n: WeightStatus.ORPHANED for n in self._orphans()}
        assert {r.name: r.status for r in make_status(snapshot)} == expected

    @rule()
    def apply_prune(self) -> None:
        plan = make_plan(self._gather(), Operation.PRUNE)
        assert plan.applyable, plan.problems
        assert {s.weight for s in plan.steps if isinstance(s, PruneLockEntry)} == self._orphans()
        results = self._apply(plan)
        assert all(r.status is StepStatus.DONE for r in results), results
        self.locked = {n: w for n, w in self.locked.items() if n in self.declared}
        after = self._gather()
        assert not [r for r in make_status(after) if r.status is WeightStatus.ORPHANED]
        assert make_plan(after, Operation.PRUNE).is_empty

    @rule(pull=st.booleans(), link_mode=st.sampled_from(["hardlink", "copy"]))
    def prepare_then_release(self, pull: bool, link_mode: str) -> None:
        wanted = [self.locked[n] for n in self.locked if n in self.declared]
        cached = all(self.store.exists(f.digest) for w in wanted for f in w.entry.files)
        plan = make_plan(self._gather(), Operation.PREPARE, pull=pull)
        assert plan.applyable == (pull or cached), plan.problems
        _count(f"prepare: {'applyable' if plan.applyable else 'refused, not cached'}")
        if plan.applyable:
            rt = dataclasses.replace(self._runtime(), link_mode=link_mode)
            results = self._apply(plan, rt)
            self._check_fetch_results(results)
            _count(f"prepare: {_summary(results)}")
            if all(r.status is StepStatus.DONE for r in results):
                self._check_mounts(results, rt.link_mode, wanted)
            else:
                assert not mounts(results)
                assert not self._mount_dirs(), "a failed prepare left a mount behind"
        release(self.project.dir, None)
        assert not self._mount_dirs()

    def _mount_dirs(self) -> list[Path]:
        root = mounts_root(self.project.dir)
        return sorted(root.iterdir()) if root.is_dir() else []

    def _check_mounts(
        self, results: list[StepResult], link_mode: str, wanted: list[BuiltWeight]
    ) -> None:
        """Each mount holds exactly its lock entry's files, byte for byte."""
        made = mounts(results)
        assert [m.target for m in made] == [w.entry.target for w in wanted]
        for host_dir, weight in zip((m.path for m in made), wanted, strict=True):
            assert files_under(Path(host_dir)) == weight.contents
            modes = {
                stat.S_IMODE(p.stat().st_mode) for p in Path(host_dir).rglob("*") if p.is_file()
            }
            assert modes == {0o444}, f"mounted files must be read-only for everyone: {modes}"
            for f in weight.entry.files:
                shared = (Path(host_dir) / f.path).samefile(self.store.path(f.digest))
                assert shared == (link_mode == "hardlink"), (f.path, link_mode)

    # ---- invariants --------------------------------------------------------------------

    @invariant()
    def planning_twice_gives_equal_plans(self) -> None:
        first, second = self._gather(), self._gather()
        assert first == second
        for op in LOCK_OPERATIONS:
            assert make_plan(first, op) == make_plan(first, op)

    @invariant()
    def the_store_holds_only_blobs_that_hash_to_their_names(self) -> None:
        for info in self.store.list():
            data = self.store.path(info.digest).read_bytes()
            assert "sha256:" + hashlib.sha256(data).hexdigest() == info.digest
            assert info.digest in self.known_files

    @invariant()
    def no_temp_files_remain(self) -> None:
        assert not list(self.store.root.rglob(TEMP_PREFIX + "*"))
        assert not list(self.project.dir.glob(".weights-*"))

    @invariant()
    def weights_lock_is_what_the_model_says(self) -> None:
        if self.project.lock_path.exists():
            assert self.project.lock_path.read_bytes() == self._expected_lock()
        else:
            assert not self.locked


TestPlanApplyConvergence = PlanApplyConvergence.TestCase
TestPlanApplyConvergence.settings = settings(
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    # The explain phase traces every line on Python 3.11, which with real disk I/O
    # turns a failure report into minutes; the shrunk steps are explanation enough.
    phases=[p for p in Phase if p is not Phase.explain],
    suppress_health_check=[HealthCheck.too_slow],
)


# ---- examples pinned by hand --------------------------------------------------------------


def test_a_corrupted_layer_fails_its_pull_and_the_next_pull_converges() -> None:
    machine = PlanApplyConvergence()
    try:
        machine.declare_an_imported_weight({"model.bin": b"m" * 60, "README.md": b"hi"})
        layer = machine._layer_digests()[0]
        machine.registry.corrupt_blob(layer, 1000)
        machine.pull([])
        assert machine.registry.broken() == {layer}
        machine.registry.restore_blob(layer)
        machine.pull([])
        assert make_plan(machine._gather(), Operation.PULL).is_empty
    finally:
        machine.teardown()


BLOB = bytes(range(256)) * 5
BLOB_DIGEST = sha256_of(BLOB)


def _broken_registry(how: str) -> FakeRegistry:
    registry = FakeRegistry(max_chunk=512)
    registry.push_blob(REPO, BLOB_DIGEST, len(BLOB), functools.partial(iter, [BLOB]))
    if how == "flip":
        registry.corrupt_blob(BLOB_DIGEST, 700)
    elif how == "replace":
        registry.replace_blob(BLOB_DIGEST, BLOB[::-1])
    elif how == "lose":
        registry.lose_blob(BLOB_DIGEST)
    return registry


@pytest.mark.parametrize(
    ("how", "delivered", "error"),
    [
        pytest.param("intact", len(BLOB), None, id="intact-blob-streams-whole"),
        pytest.param("flip", len(BLOB), RegistryDigestMismatch, id="flipped-byte-fails-at-end"),
        pytest.param("replace", len(BLOB), RegistryDigestMismatch, id="other-bytes-fail-at-end"),
        pytest.param("lose", 0, RegistryNotFound, id="lost-blob-fails-before-any-byte"),
    ],
)
def test_the_fake_registry_reports_a_broken_blob_as_the_real_client_does(
    how: str, delivered: int, error: type[Exception] | None
) -> None:
    """Size and digest are checked after the last byte, so a consumer that stops
    early never learns the blob was wrong: pull must read to the end."""
    registry = _broken_registry(how)
    received: list[bytes] = []
    stream = registry.iter_blob(REPO, BLOB_DIGEST, expected_size=len(BLOB))
    if error is None:
        received.extend(stream)
    else:
        with pytest.raises(error):
            received.extend(stream)
    assert sum(map(len, received)) == delivered
    assert all(len(chunk) <= 512 for chunk in received)
    assert [c.method for c in registry.calls][-1] == "iter_blob"


def test_an_impostor_layer_is_fetched_once_more_before_its_pull_fails() -> None:
    """The store's refusal of a file's bytes comes wrapped with the file's name; it still
    means the bytes were spoilt, so the layer is fetched again from scratch (the count of
    blob requests is checked in ``_apply``)."""
    machine = PlanApplyConvergence()
    try:
        machine.declare_an_imported_weight({"README.md": b"\x01"})
        weight = machine.locked["w0"]
        layer = machine._layer_digests()[0]
        machine.registry.replace_blob(layer, impostor_layer(weight, layer))
        machine.prepare_then_release(pull=True, link_mode="hardlink")
        assert [c.ref for c in machine.registry.calls if c.method == "iter_blob"] == [layer] * 2
    finally:
        machine.teardown()
