"""weights.lock checks: what Cog leaves to fail later, reported up front and all at once.

Cog decodes a lockfile and trusts it; a bad digest, an unsafe path or a file
in an unknown layer then fails deep inside pull or prepare. These checks run
on decoded records and name the entry and field of every problem, each with
the same advice: weights.lock is written by ``cogw import``. They know values
only, never the disk, and never compare ``importedAt``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import repeat
from operator import attrgetter, itemgetter

from pyrsistent import PVector

from cogw.core.diagnostics import Diagnostic
from cogw.core.digest import all_valid, digest_error, format_digest_short, is_digest
from cogw.core.lock.lockrecords import MEDIA_TYPES, LockFile, LockLayer, WeightEntry
from cogw.core.paths import all_plain, go_clean, path_error, quote

HINT_REWRITE = (
    "weights.lock is written by 'cogw import': undo the hand edit, "
    "or run 'cogw import' to rewrite the entry"
)

# The config's name rule: every name Cog or cogw imports satisfies it, and the
# name becomes a directory under the mount root and part of a registry tag.
_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_NAME_RULE = (
    "must contain only lowercase alphanumeric characters, hyphens, dots, or underscores "
    '(e.g. "my-model-weights")'
)


def entry_subject(filename: str, index: int, name: str) -> str:
    """How problems name an entry: by index, and by name once it is known."""
    return (
        f"{filename}: weights[{index}] {quote(name)}" if name else f"{filename}: weights[{index}]"
    )


def problem(subject: str, summary: str, detail: str = "") -> Diagnostic:
    """A problem in a hand-edited lockfile, with the advice to rewrite it."""
    return Diagnostic(summary=summary, detail=detail, subject=subject, hint=HINT_REWRITE)


def check_envelope(envelope: str, filename: str) -> list[Diagnostic]:
    """``envelopeFormat`` is empty or a valid digest."""
    error = digest_error(envelope) if envelope else None
    return [] if error is None else [problem(filename, "malformed envelopeFormat", error)]


def _check_identity(entry: WeightEntry, subject: str) -> Iterable[Diagnostic]:
    if not entry.name:
        yield problem(subject, "weight name is empty")
    elif _NAME.fullmatch(entry.name) is None:
        yield problem(subject, f"invalid weight name {quote(entry.name)}", _NAME_RULE)
    if not entry.target.startswith("/"):
        yield problem(
            subject, "target must be an absolute path", f"target is {quote(entry.target)}"
        )
    for label, value in (("manifest digest", entry.digest), ("set digest", entry.set_digest)):
        error = digest_error(value) if value else None
        if error is not None:
            yield problem(subject, f"malformed {label}", error)
    for label, number in (("size", entry.size), ("sizeCompressed", entry.size_compressed)):
        if number < 0:
            yield problem(subject, f"{label} is negative ({number})")


def _check_file(
    f: LockFile, where: str, subject: str, layers: frozenset[str]
) -> Iterable[Diagnostic]:
    path_problem = path_error(f.path)
    if path_problem is not None:
        yield problem(subject, f"unsafe file path in {where}", path_problem)
    for label, value in (("digest", f.digest), ("layer", f.layer)):
        error = digest_error(value)
        if error is not None:
            yield problem(subject, f"malformed {label} in {where} {quote(f.path)}", error)
    if f.size < 0:
        yield problem(subject, f"{where}.size is negative ({f.size})")
    if is_digest(f.layer) and f.layer not in layers:
        yield problem(
            subject,
            f"{where} {quote(f.path)} is in layer {format_digest_short(f.layer)}, "
            "which is not in layers",
        )


# A valid digest, matched in C: a lockfile of 100 000s of files has as many.
_PLAIN_DIGEST = re.compile(r"sha256:[0-9a-f]{64}").fullmatch


def _plainly_valid(f: LockFile, valid_layers: frozenset[str]) -> bool:
    """True only when ``_check_file`` finds nothing: a valid digest, a layer of the entry
    with a valid digest, a size of at least 0, a safe path."""
    return (
        f.layer in valid_layers
        and f.size >= 0
        and _PLAIN_DIGEST(f.digest) is not None
        and path_error(f.path) is None
    )


def _check_file_set(files: PVector[LockFile], subject: str) -> Iterable[Diagnostic]:
    seen: dict[str, int] = {}
    for index, f in enumerate(files):
        first = seen.setdefault(f.path, index)
        if first != index:
            yield problem(
                subject,
                f"duplicate file path {quote(f.path)}",
                f"files[{first}] and files[{index}] name the same file",
            )
    # Directories that are no file, nor is any directory above them: a path directly in one
    # has nothing to report, so a directory of 1 000 files is checked once, not 1 000 times.
    clear: set[str] = set()
    for path in seen:
        cut = path.rfind("/")
        if cut < 0 or path[:cut] in clear:
            continue
        # A file cannot also be a directory of another file in the mount.
        parts = path.split("/")
        above_clear = True
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in seen:
                above_clear = False
                yield problem(
                    subject, f"file path {quote(parent)} is also a directory of {quote(path)}"
                )
            elif above_clear:
                clear.add(parent)


def _check_layer(layer: LockLayer, where: str, subject: str) -> Iterable[Diagnostic]:
    error = digest_error(layer.digest)
    if error is not None:
        yield problem(subject, f"malformed digest in {where}", error)
    if layer.media_type not in MEDIA_TYPES:
        yield problem(
            subject,
            f"{where} has unsupported media type {quote(layer.media_type)}",
            "layers are " + ", ".join(sorted(MEDIA_TYPES)),
        )
    for label, number in (("size", layer.size), ("sizeUncompressed", layer.size_uncompressed)):
        if number < 0:
            yield problem(subject, f"{where}.{label} is negative ({number})")


def _check_layers(layers: PVector[LockLayer], subject: str) -> Iterable[Diagnostic]:
    seen: set[str] = set()
    for index, layer in enumerate(layers):
        yield from _check_layer(layer, f"layers[{index}]", subject)
        if layer.digest in seen:
            short = format_digest_short(layer.digest)
            yield problem(subject, f"duplicate layer {short}", f"layers[{index}]")
        seen.add(layer.digest)


_PATH, _SIZE, _DIGEST, _LAYER = (attrgetter(name) for name in ("path", "size", "digest", "layer"))


def _above(paths: Iterable[str]) -> set[str]:
    """Every directory that holds one of ``paths``, at any depth."""
    found: set[str] = set()
    for directory in set(map(itemgetter(0), map(str.rpartition, paths, repeat("/")))):
        while directory and directory not in found:
            found.add(directory)
            directory = directory.rpartition("/")[0]
    return found


def _files_plainly_valid(files: PVector[LockFile], valid_layers: frozenset[str]) -> bool:
    """True only when neither :func:`_check_file` nor :func:`_check_file_set` finds anything
    in ``files``: each is :func:`_plainly_valid`, no path is repeated, none is also a
    directory of another. Field by field over all files, so matches and look-ups run in C."""
    paths = list(map(_PATH, files))
    unique = set(paths)
    return (
        len(unique) == len(paths)
        and valid_layers.issuperset(map(_LAYER, files))
        and min(map(_SIZE, files), default=0) >= 0
        and all_valid(list(map(_DIGEST, files)))
        and all_plain(paths)
        and unique.isdisjoint(_above(paths))
    )


def check_entry(entry: WeightEntry, subject: str) -> list[Diagnostic]:
    """Every problem of one entry, in the order its fields appear in the file."""
    problems = list(_check_identity(entry, subject))
    known = frozenset(layer.digest for layer in entry.layers)
    valid = frozenset(d for d in known if digest_error(d) is None)
    if not _files_plainly_valid(entry.files, valid):  # else there is nothing to report
        for index, f in enumerate(entry.files):
            if not _plainly_valid(f, valid):  # the common case needs no generator
                problems.extend(_check_file(f, f"files[{index}]", subject, known))
        problems.extend(_check_file_set(entry.files, subject))
    problems.extend(_check_layers(entry.layers, subject))
    return problems


HINT_REPAIR_TARGET = (
    "an entry left behind by a renamed weight: 'cogw apply prune --yes' drops the "
    "entries cog.yaml no longer declares, and 'cogw import' does so as it records"
)


def check_unique_names(weights: PVector[WeightEntry], filename: str) -> Iterable[Diagnostic]:
    """Cog's first uniqueness rule: no two entries share a name."""
    names: dict[str, int] = {}
    for index, entry in enumerate(weights):
        if entry.name and entry.name in names:
            yield problem(
                entry_subject(filename, index, entry.name),
                f"duplicate weight name {quote(entry.name)}",
                f"weights[{names[entry.name]}] has the same name",
            )
        names.setdefault(entry.name, index)


def check_unique_targets(weights: PVector[WeightEntry], filename: str) -> Iterable[Diagnostic]:
    """Cog's second rule: no two entries share a cleaned non-empty target.

    Unlike every other problem this one is repairable without a hand edit --
    a rename leaves the old entry behind -- so its hint names the repair, and
    the commands that repair it still read the file (:func:`cogw.core.lock.lockfile.
    parse_lockfile_repairable`)."""
    targets: dict[str, int] = {}
    for index, entry in enumerate(weights):
        target = go_clean(entry.target) if entry.target else ""
        if target and target in targets:
            other = targets[target]
            yield Diagnostic(
                summary=f"duplicate weight target {quote(entry.target)}",
                detail=f"the same directory as weights[{other}] {quote(weights[other].name)}",
                subject=entry_subject(filename, index, entry.name),
                hint=HINT_REPAIR_TARGET,
            )
        targets.setdefault(target, index)
