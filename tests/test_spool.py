from __future__ import annotations

from pathlib import Path

import pytest

from telemetry.ingest.spool import Spool, SpoolFull
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
        reopened = Spool(fs / "spool", 1 << 30)
        reopened.open()
        assert reopened.truncated_bytes == 0  # nothing torn was left behind
        filler.unlink()
        s.append(batch(10, n=2000))
        assert drain(s) == [batch(0), batch(10, n=2000)]


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
