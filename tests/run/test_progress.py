"""Progress on stderr: plain lines every --log-every seconds in a log file, tqdm's bar on a terminal."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from ecgspec.run.progress import LogProgress, clock_text, progress_line
from tests.helpers.paths import ROOT

LINE = re.compile(r"ecgspec: (\d+)/(\d+) records \(\d+%\), (\d+) windows, [\d.]+ records/s, \d+ windows/s,"
                  r" elapsed \d+:\d\d:\d\d, ETA (\d+:\d\d:\d\d|\?)"
                  r"(; found in [\d.]+ s, reading \d+%, engine \d+%, writing \d+%)?")
# cpsc2021's 18 long records cut into many small windows: a run of a few seconds
LONG_RUN = ["--n-channels", "2", "--fs", "200", "--n-samples", "400", "--n-bins", "8", "--window-size", "0.03",
            "--overlap-size", "0.01", "--stride", "20", "--batch-size", "64"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_line_with_a_fake_clock() -> None:
    clock = FakeClock()
    progress = LogProgress(5000, 30, write=lambda line: None, clock=clock)
    assert progress.line() == ("ecgspec: 0/5000 records (0%), 0 windows, 0.0 records/s, 0 windows/s,"
                               " elapsed 0:00:00, ETA ?")
    clock.now += 15
    progress.update(1200)
    progress.set_postfix(windows=13200, refresh=False)
    assert progress.line() == ("ecgspec: 1200/5000 records (24%), 13200 windows, 80.0 records/s, 880 windows/s,"
                               " elapsed 0:00:15, ETA 0:00:47")
    assert clock_text(3 * 3600 + 62.9) == "3:01:02"
    assert progress_line(0, 0, 0, 0.0).startswith("ecgspec: 0/0 records, 0 windows")


def run_extract(tmp_path: Path, cpsc_dir: Path, *args: str, stderr) -> int:
    cmd = [sys.executable, "-m", "ecgspec", "extract", str(cpsc_dir), str(tmp_path / "out.h5"), *LONG_RUN, *args]
    return subprocess.run(cmd, cwd=ROOT, stderr=stderr, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                          timeout=300).returncode


@pytest.mark.slow
def test_log_file_gets_plain_progress_lines(tmp_path: Path, cpsc_dir: Path) -> None:
    log = tmp_path / "run.log"
    with open(log, "wb") as fh:
        assert run_extract(tmp_path, cpsc_dir, "--log-every", "0.1", stderr=fh) == 0
    text = log.read_text()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    progress = [LINE.fullmatch(line) for line in lines[:-1]]
    assert len(progress) >= 2 and all(progress), lines
    done = [int(m.group(1)) for m in progress]
    assert done == sorted(done) and all(int(m.group(2)) == 18 for m in progress)
    assert lines[-1].startswith("ecgspec: 18 records read, ")


@pytest.mark.slow
@pytest.mark.parametrize("args", [["--log-every", "0"], ["--quiet", "--log-every", "0.1"]])
def test_log_every_zero_or_quiet_prints_no_progress(tmp_path: Path, cpsc_dir: Path, args: list[str]) -> None:
    log = tmp_path / "run.log"
    with open(log, "wb") as fh:
        assert run_extract(tmp_path, cpsc_dir, *args, stderr=fh) == 0
    assert "records/s" not in log.read_text().replace("windows/s", "")


@pytest.mark.slow
def test_a_terminal_gets_the_bar_not_the_lines(tmp_path: Path, cpsc_dir: Path) -> None:
    main, child = os.openpty()  # stderr a terminal, 120 columns wide
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        assert run_extract(tmp_path, cpsc_dir, "--log-every", "0.1", stderr=child) == 0
        os.close(child)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO once the child side is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main)
    text = b"".join(chunks).decode(errors="replace")
    assert "\r" in text and "18/18" in text and "rec/s" in text, text[-500:]
    assert not any(LINE.fullmatch(line.strip()) for line in text.replace("\r", "\n").splitlines())


def test_log_every_must_not_be_negative(tmp_path: Path, cpsc_dir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "ecgspec", "extract", str(cpsc_dir), str(tmp_path / "o.h5"),
                           "--log-every", "-1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "ecgspec: error: log_every: got -1.0, must be a number of seconds >= 0")
