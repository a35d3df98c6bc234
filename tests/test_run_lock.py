"""One run of a study at a time: a second run of a study that is running is refused at once with exit
code 4, naming the running one (pid, start time), and the first finishes as if alone; a lock left by a
killed run is taken over."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mbcrt import paths
from mbcrt.errors import EXIT_BUSY, RunBusy
from mbcrt.run.pipeline import StudyLock

GBSG2 = """
name: locked
title: "Lock test on GBSG2"
data: {data}
id: id
time: time
time_unit: days
event: cens
treatment: horTh
treated_value: "yes"
covariates: [age, menostat, tsize]
categorical: [menostat]
levels: {{menostat: [Pre, Post]}}
steps: [cohort, baseline, survival]
"""


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_lock_on_a_running_study_is_refused_naming_the_first(tmp_path):
    first = StudyLock(tmp_path, "s").acquire()
    try:
        with pytest.raises(RunBusy) as err:
            StudyLock(tmp_path, "s").acquire()
        assert err.value.pid == os.getpid() and err.value.started
        assert f"pid {os.getpid()}" in str(err.value) and "being run by another run" in str(err.value)
        StudyLock(tmp_path, "other").acquire().release()  # another study is not held up
    finally:
        first.release()
    StudyLock(tmp_path, "s").acquire().release()  # released: free again
    assert (tmp_path / ".staging" / "s.lock").read_text() == ""  # a released lock names no run


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    lock = tmp_path / ".staging" / "s.lock"
    lock.parent.mkdir()
    pid = dead_pid()
    lock.write_text(json.dumps({"pid": pid, "started": "2026-01-01 00:00:00"}))
    said = []
    held = StudyLock(tmp_path, "s").acquire(said.append)
    try:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        assert said and f"pid {pid}" in said[0] and "no longer running" in said[0]
    finally:
        held.release()


def test_the_busy_error_crosses_processes():
    import pickle

    err = pickle.loads(pickle.dumps(RunBusy("s", 12, "2026-01-01 00:00:00")))
    assert (err.study, err.pid, err.started) == ("s", 12, "2026-01-01 00:00:00")


def _cli(folder: Path, root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mbcrt", "run", "--config", str(folder / "study.yaml"),
                             "--out", str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _outputs(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for kind in ("tables", "figures")
            for p in sorted((root / kind).rglob("*")) if p.is_file()}


@pytest.mark.integration
def test_two_runs_of_one_study_at_once(tmp_path):
    (tmp_path / "study.yaml").write_text(GBSG2.format(data=paths.PUBLIC_DIR / "gbsg2.csv"))
    root = tmp_path / "out"
    first = _cli(tmp_path, root)
    lock = root / ".staging" / "locked.lock"
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text()) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before the second could start"
    second = subprocess.run([sys.executable, "-m", "mbcrt", "run", "--config", str(tmp_path / "study.yaml"),
                             "--out", str(root)], capture_output=True, text=True, timeout=120)
    assert first.poll() is None, "the first run must still be running when the second is refused"
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    assert second.returncode == EXIT_BUSY, second.stderr[-3000:]
    message = [line for line in second.stderr.splitlines() if line.startswith("mbcrt: busy:")]
    assert len(message) == 1 and f"pid {first.pid}" in message[0] and "started" in message[0], second.stderr
    assert "Traceback" not in second.stderr
    # The first run is complete and the same as a run alone.
    alone = tmp_path / "alone"
    proc = subprocess.run([sys.executable, "-m", "mbcrt", "run", "--config", str(tmp_path / "study.yaml"),
                           "--out", str(alone)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _outputs(root) == _outputs(alone) and any(k.endswith("km_summary.csv") for k in _outputs(root))
    assert (root / "reports" / "index.html").exists()
    assert lock.read_text() == ""


@pytest.mark.integration
def test_a_run_after_a_killed_run_takes_its_lock_over(tmp_path):
    (tmp_path / "study.yaml").write_text(GBSG2.format(data=paths.PUBLIC_DIR / "gbsg2.csv")
                                         .replace("baseline, survival", "baseline"))
    root = tmp_path / "out"
    lock = root / ".staging" / "locked.lock"
    lock.parent.mkdir(parents=True)
    pid = dead_pid()
    lock.write_text(json.dumps({"pid": pid, "started": "2026-01-01 00:00:00"}))
    proc = subprocess.run([sys.executable, "-m", "mbcrt", "run", "--config", str(tmp_path / "study.yaml"),
                           "--out", str(root)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"took over the lock of an earlier run that is no longer running (pid {pid}" in proc.stdout
