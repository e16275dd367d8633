"""A real, small filesystem for disk-full tests: a size-limited tmpfs mounted on a temporary
folder (needs CAP_SYS_ADMIN, as CI's root has; the test is skipped with the reason otherwise)."""

from __future__ import annotations

import contextlib
import errno
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_filesystem(where: Path, size_kib: int) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("no mount(8) here: cannot make a small filesystem for the disk-full test")
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root/CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def fill(directory: Path, name: str = "filler", leave: int = 0) -> Path:
    """Write zeros into ``directory`` until its filesystem says ENOSPC, then give back ``leave``
    bytes; returns the file."""
    path = directory / name
    chunk = b"\0" * 4096
    with path.open("wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        if leave:
            f.truncate(max(0, f.tell() - leave))
    return path
