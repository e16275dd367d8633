from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from telemetry.errors import ConfigError
from telemetry.ingest.spool import Spool, SpoolFull, check_unlocked
from telemetry.records import GaugeReading, Point, ToiletEvent, VehicleFix
from tests.smallfs import fill, small_filesystem

T0 = 1_795_564_800_000


def batch(start: int, n: int = 10) -> list[Point]:
    return [
        GaugeReading("G01", "haishu", T0 + (start + i) * 1000, float(i), road="r").to_point()
        for i in range(n)
    ]


def drain(spool: Spool) -> list[list[Point]]:
    out = []
    while (b := spool.peek()) is not None:
        out.append(list(b.points))
        spool.consume(b)
    return out


def test_round_trip_keeps_types_and_order(tmp_path: Path) -> None:
    s = Spool(tmp_path, 1 << 20)
    s.open()
    mixed = [
        VehicleFix(
            "SW001", "haishu", "sweeper", T0, 29.87, 121.5, "GCJ02", speed_kmh=6.0, working=True
        ).to_point(),
        ToiletEvent("T01", "haishu", T0, "cleaned", "李").to_point(),
        Point("toilet_footfall", (("toilet", "T01"),), (("entries", 3), ("nh3_mg_m3", 1.0)), T0),
    ]
    s.append(batch(0))
    s.append(mixed)
    assert (s.points, s.empty) == (13, False)
    out = drain(s)
    assert out == [batch(0), mixed]
    assert isinstance(out[1][2].fields[0][1], int)
    assert isinstance(out[1][2].fields[1][1], float)
    assert s.empty
    assert list(tmp_path.glob("seg-*")) == []


def test_reopen_replays_what_was_not_consumed(tmp_path: Path) -> None:
    s = Spool(tmp_path, 1 << 20, segment_bytes=2000)
    s.open()
    for i in range(10):
        s.append(batch(i * 10))
    assert len(list(tmp_path.glob("seg-*"))) > 2  # rotated
    first = s.peek()
    assert first is not None
    s.consume(first)
    s.close()
    again = Spool(tmp_path, 1 << 20, segment_bytes=2000)
    again.open()
    replayed = drain(again)
    # the partly replayed segment comes again (idempotent storage absorbs it); nothing is missing
    assert replayed[-9:] == [batch(i * 10) for i in range(1, 10)]


def test_torn_tail_is_cut_on_open(tmp_path: Path) -> None:
    s = Spool(tmp_path, 1 << 20)
    s.open()
    s.append(batch(0))
    s.append(batch(10))
    (seg,) = tmp_path.glob("seg-*.log")
    size = seg.stat().st_size
    with seg.open("ab") as f:
        f.write(b"\x10\x00\x00\x00garbage")  # a header and half a record: a write cut by a crash
    s.close()
    reopened = Spool(tmp_path, 1 << 20)
    reopened.open()
    assert reopened.truncated_bytes == 11
    assert seg.stat().st_size == size
    assert drain(reopened) == [batch(0), batch(10)]


def test_corrupt_record_is_cut_with_what_follows(tmp_path: Path) -> None:
    s = Spool(tmp_path, 1 << 20)
    s.open()
    s.append(batch(0))
    s.append(batch(10))
    (seg,) = tmp_path.glob("seg-*.log")
    data = bytearray(seg.read_bytes())
    data[-5] ^= 0xFF  # flip a byte of the second record's body
    seg.write_bytes(bytes(data))
    s.close()
    reopened = Spool(tmp_path, 1 << 20)
    reopened.open()
    assert drain(reopened) == [batch(0)]


def test_full_spool_refuses_and_keeps_what_it_has(tmp_path: Path) -> None:
    s = Spool(tmp_path, 3000)
    s.open()
    s.append(batch(0))
    appended = 1
    while s.bytes < 2000:
        s.append(batch(appended * 10))
        appended += 1
    with pytest.raises(SpoolFull):
        s.append(batch(appended * 10))
    held = s.points
    assert 10 <= held < 1000
    assert sum(len(b) for b in drain(s)) == held


def test_a_full_disk_refuses_cleanly_and_the_spool_stays_readable(tmp_path: Path) -> None:
    """A real ENOSPC (a 256 KiB tmpfs, filled): the append that fails is rolled back, not left
    as a torn record; the spool still reads back everything it had and accepts batches again
    once there is room."""
    with small_filesystem(tmp_path / "fs", 256) as fs:
        s = Spool(fs / "spool", 1 << 30, segment_bytes=1 << 20)
        s.open()
        s.append(batch(0))
        filler = fill(fs, leave=8192)  # room for part of the next record
        before = (s.points, s.bytes, [p.stat().st_size for p in (fs / "spool").glob("seg-*.log")])
        with pytest.raises(SpoolFull, match=r"no space left for the spool in .*spool"):
            s.append(batch(10, n=2000))  # larger than a page: partly written, then ENOSPC
        assert (s.points, s.bytes, [p.stat().st_size for p in (fs / "spool").glob("seg-*.log")]) == before
        s.close()
        reopened = Spool(fs / "spool", 1 << 30)
        reopened.open()
        assert reopened.truncated_bytes == 0  # nothing torn was left behind
        filler.unlink()
        reopened.append(batch(10, n=2000))
        assert drain(reopened) == [batch(0), batch(10, n=2000)]


def test_a_full_disk_on_a_new_segment_leaves_no_empty_segment(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "fs", 256) as fs:
        s = Spool(fs / "spool", 1 << 30, segment_bytes=1 << 20)
        s.open()
        filler = fill(fs)
        with pytest.raises(SpoolFull, match="no space left"):
            s.append(batch(0, n=2000))
        assert s.empty  # the writer may still try the store first
        assert s.peek() is None
        assert list((fs / "spool").glob("seg-*.log")) == []
        filler.unlink()
        s.append(batch(0))
        assert drain(s) == [batch(0)]


def test_a_second_opener_of_the_folder_is_refused_naming_the_holder(tmp_path: Path) -> None:
    """Two processes on one spool would cut and replay each other's batches: the folder is
    locked, and the second opener is told which folder and which process holds it."""
    s = Spool(tmp_path, 1 << 20)
    s.open()
    s.append(batch(0))
    with pytest.raises(ConfigError, match=rf"{re.escape(str(tmp_path))}.*pid {os.getpid()}"):
        Spool(tmp_path, 1 << 20).open()
    with pytest.raises(ConfigError, match=rf"pid {os.getpid()}"):
        check_unlocked(tmp_path)  # what `serve` can ask before it serves
    assert drain(s) == [batch(0)]
    s.close()
    check_unlocked(tmp_path)
    check_unlocked(tmp_path / "not-yet")
    assert not (tmp_path / "not-yet").exists()
    again = Spool(tmp_path, 1 << 20)
    again.open()  # released on close
    again.close()


def test_another_process_is_refused_while_the_spool_is_held(tmp_path: Path) -> None:
    s = Spool(tmp_path, 1 << 20)
    s.open()
    s.append(batch(0))
    with (tmp_path / "seg-000000000001.log").open("ab") as f:
        f.write(b"torn")  # what the other process would cut on open if it could
    code = "import sys; from pathlib import Path; from telemetry.ingest.spool import Spool; "
    code += "Spool(Path(sys.argv[1]), 1 << 20).open()"
    r = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    assert r.returncode != 0
    assert f"{tmp_path} is in use by another process (pid {os.getpid()})" in r.stderr
    assert (tmp_path / "seg-000000000001.log").read_bytes().endswith(b"torn")
    s.close()


class _ChangingUnderfoot(dict[int, int]):
    """A segment table that another thread changes while the reader iterates it: what the
    spool's I/O thread did while the event loop summed the totals ("dictionary changed size
    during iteration" ended the pipeline). Deterministic: the change runs inside the iteration."""

    def __init__(self, data: dict[int, int], change: Callable[[], None]) -> None:
        super().__init__(data)
        self._change = change
        self._reader = threading.get_ident()

    def values(self) -> Iterator[int]:  # type: ignore[override]
        for i, v in enumerate(super().values()):
            if i == 0 and threading.get_ident() == self._reader:
                t = threading.Thread(target=self._change)
                t.start()
                t.join(5)
            yield v


def test_totals_are_snapshots_safe_while_the_io_thread_changes_the_segments(tmp_path: Path) -> None:
    s = Spool(tmp_path, 1 << 20, segment_bytes=512)  # every append opens a segment
    s.open()
    s.append(batch(0))
    s._sizes = _ChangingUnderfoot(s._sizes, lambda: s.append(batch(10)))
    s._counts = _ChangingUnderfoot(s._counts, lambda: s.append(batch(20)))
    points, size = s.points, s.bytes  # read on "the loop" while "the I/O thread" appends
    s._sizes, s._counts = dict(s._sizes), dict(s._counts)
    assert points in (10, 20, 30)
    assert size > 0
    writer = threading.Thread(target=lambda: s.append(batch(30)))
    writer.start()
    writer.join()
    assert s.points == points + 10
    held = s.points
    assert sum(len(b) for b in drain(s)) == held
    assert (s.points, s.bytes, s.empty) == (0, 0, True)
    s.close()
