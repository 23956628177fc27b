"""Progress is true: counts never pass their totals, units are binary, JSON carries
bytes done and total, plain logs get a line every few seconds, Ctrl-C does not fill
the total bar."""

from __future__ import annotations

import io
import json

from cogw.core.plan.events import Event, EventKind
from cogw.shell.progress import JsonProgress, PlainLog, count_line
from cogw.shell.progress_rich import RichProgress
from cogw.shell.progress_tally import TOTAL, Tally

LAYER = "sha256:" + "ab" * 32
MB = 1 << 20


def phase(name: str, nbytes: int) -> Event:
    return Event(EventKind.PHASE, weight="alpha", phase=name, nbytes=nbytes)


def push_bytes(n: int) -> Event:
    return Event(EventKind.BYTES, weight="alpha", phase="push", layer_digest=LAYER, nbytes=n)


def layer_start(size: int) -> Event:
    return Event(EventKind.LAYER_START, weight="alpha", layer_digest=LAYER, layer_size=size)


def layer_bytes(n: int) -> Event:
    return Event(EventKind.BYTES, weight="alpha", layer_digest=LAYER, nbytes=n)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_phase_never_passes_its_total_and_a_repeated_phase_adds_up() -> None:
    tally = Tally()
    tally.observe(phase("push", 100))
    tally.observe(push_bytes(150))  # tar headers: more bytes than the files announced
    assert tally.counts["alpha/push"].done == 100
    tally.observe(phase("push", 100))  # direct and packed pushes announce separately
    assert tally.counts["alpha/push"].total == 200
    tally.observe(push_bytes(50))
    assert tally.counts["alpha/push"].done == 150


def test_the_next_phase_finishes_the_earlier_one() -> None:
    tally = Tally()
    tally.observe(phase("pack", 10))
    changed = tally.observe(phase("push", 10))
    assert changed == ["alpha/pack", "alpha/push"]
    assert tally.counts["alpha/pack"].done == 10 and tally.counts["alpha/pack"].finished


def test_a_store_copy_beside_pushes_and_packing_leaves_their_bars_where_they_are() -> None:
    tally = Tally()
    tally.observe(phase("push", 100))  # the large file, pushed from its source
    changed = tally.observe(phase("ingest", 100))  # its store copy, started beside it
    assert changed == ["alpha/ingest"]
    push = tally.counts["alpha/push"]
    assert push.done == 0 and not push.finished
    tally.observe(push_bytes(40))
    assert push.done == 40
    tally.observe(phase("pack", 10))  # the small files, packed beside the copy
    assert not tally.counts["alpha/ingest"].finished and not push.finished
    tally.observe(phase("record", 0))
    assert push.finished and tally.counts["alpha/ingest"].finished


def test_download_bytes_feed_layer_and_plan_total_both_clamped() -> None:
    tally = Tally(download_total=10)
    tally.observe(layer_start(10))
    assert tally.observe(layer_bytes(25)) == [LAYER, TOTAL]
    assert tally.counts[LAYER].done == tally.counts[TOTAL].done == 10


def test_ctrl_c_leaves_the_total_where_the_work_stopped() -> None:
    stream = io.StringIO()
    tally = Tally(download_total=10 * MB)
    rich = RichProgress(stream, tally, lambda _e: "")
    rich(layer_start(10 * MB))
    rich(layer_bytes(4 * MB))
    rich.close()  # as after KeyboardInterrupt: no layer-done
    assert tally.counts[TOTAL].done == 4 * MB and not tally.counts[TOTAL].finished


def test_a_finished_layer_bar_collapses_and_the_total_completes() -> None:
    tally = Tally(download_total=10)
    rich = RichProgress(io.StringIO(), tally, lambda _e: "")
    rich(layer_start(10))
    rich(layer_bytes(8))  # a short count (no bytes for a tar trailer)
    assert LAYER in rich.tasks
    rich(Event(EventKind.LAYER_DONE, weight="alpha", layer_digest=LAYER))
    assert LAYER not in rich.tasks and TOTAL in rich.tasks
    rich.close()
    assert tally.counts[TOTAL].done == 10


def test_json_progress_carries_bytes_done_and_total_at_most_once_a_second() -> None:
    stream, clock = io.StringIO(), FakeClock()
    sink = JsonProgress(stream, Tally(), clock)
    sink(layer_start(4 * MB))
    for _ in range(3):
        sink(layer_bytes(MB))  # same instant: only the first is written
    clock.now = 1.5
    sink(layer_bytes(MB))  # complete: always written
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    progress = [e for e in events if e["kind"] == "progress"]
    assert [(e["bytesDone"], e["bytesTotal"]) for e in progress] == [(MB, 4 * MB), (4 * MB, 4 * MB)]
    assert progress[0]["weight"] == "alpha" and progress[0]["layerDigest"] == LAYER
    assert events[0]["kind"] == "layer-start"


def test_plain_logs_get_a_progress_line_every_few_seconds() -> None:
    stream, clock = io.StringIO(), FakeClock()
    sink = PlainLog(stream, Tally(), clock=clock)
    sink(phase("push", 10 * MB))
    sink(push_bytes(MB))
    assert "push:" not in stream.getvalue()
    clock.now = 6.0
    sink(push_bytes(4 * MB))
    assert "alpha push: 5.0MB/10.0MB (50%)" in stream.getvalue().splitlines()


def test_count_lines_use_binary_units() -> None:
    tally = Tally()
    tally.observe(phase("ingest", 3 * MB))
    tally.observe(Event(EventKind.BYTES, weight="alpha", phase="ingest", nbytes=MB + MB // 2))
    assert count_line(tally.counts["alpha/ingest"]) == "alpha ingest: 1.5MB/3.0MB (50%)"


def test_rich_bars_print_sizes_with_format_size_not_rich_decimal_units() -> None:
    from rich.progress import Progress

    from cogw.shell.progress_rich import SizeColumn

    bar = Progress()
    task = bar.add_task("x", total=524 * MB)
    bar.update(task, completed=500 * MB)
    assert SizeColumn().render(bar.tasks[0]).plain == "500.0MB/524.0MB"


def pushed_blob(outcome: str, size: int) -> Event:
    return Event(
        EventKind.PUSH_BLOB, weight="alpha", layer_digest=LAYER, layer_size=size, message=outcome
    )


def test_a_layer_the_registry_has_leaves_the_push_bar_and_is_said_not_uploaded() -> None:
    tally = Tally()
    tally.observe(phase("push", 300))  # two layers: 200 already there, 100 to send
    assert tally.observe(pushed_blob("exists", 200)) == ["alpha/push"]
    push = tally.counts["alpha/push"]
    assert (push.total, push.label) == (100, "alpha push (1 already in the registry)")
    tally.observe(push_bytes(100))
    tally.observe(pushed_blob("uploaded", 100))
    assert (push.done, push.total, push.skipped) == (100, 100, 1)

    plain = io.StringIO()
    log = PlainLog(plain, Tally())
    log(pushed_blob("exists", 2 * MB))
    log(pushed_blob("mounted", MB))
    log(pushed_blob("uploaded", MB))  # an upload needs no line of its own
    assert plain.getvalue().splitlines() == [
        f"alpha: layer {LAYER[7:19]} already in the registry (2.0MB), not uploaded",
        f"alpha: layer {LAYER[7:19]} mounted from another repository (1.0MB), not uploaded",
    ]


def test_twenty_running_layers_in_a_fifteen_row_terminal_stay_within_its_rows() -> None:
    layers = [f"sha256:{i:064x}" for i in range(20)]
    rich = RichProgress(io.StringIO(), Tally(20 * MB), lambda _e: "")
    console = rich.progress.console
    console.size = (100, 15)

    def rows() -> list[str]:
        lines = console.render_lines(rich.progress.get_renderable(), pad=False)
        return ["".join(segment.text for segment in line).rstrip() for line in lines]

    for digest in layers:
        rich(Event(EventKind.LAYER_START, weight="alpha", layer_digest=digest, layer_size=MB))
        rich(Event(EventKind.BYTES, weight="alpha", layer_digest=digest, nbytes=MB // 2))
    shown = rows()
    assert len(shown) <= 15 - 2, shown
    assert any(row.startswith("total") for row in shown), shown
    assert shown[-1].startswith("… 9 more running"), shown
    assert sum(1 for row in shown if row.startswith("alpha ")) == 11

    for digest in layers[:12]:  # finished layers collapse, the hidden ones come into view
        rich(Event(EventKind.LAYER_DONE, weight="alpha", layer_digest=digest))
    shown = rows()
    assert sum(1 for row in shown if row.startswith("alpha ")) == 8
    assert not any("more running" in row for row in shown)
    rich.close()
