"""Interrupted runs: Ctrl-C, a killed kernel, a full disk, a killed run. Each leaves the last good
tables, figures, build files and reports as they were, no process behind, and the next run starts
clean (no staging folder left over) and succeeds with the same results."""

import os
import resource
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbcrt import paths

pytestmark = pytest.mark.integration

STUDY = """
name: interrupted
title: "Interrupted runs (GBSG2 as a hospital export)"
data: export.csv
id: patient_id
time: time_days
time_unit: days
event: relapse
treatment: hormone_therapy
treated_value: "Y"
covariates: [age, grade]
categorical: [grade]
levels: {grade: [I, II, III]}
landmarks: [365, 1095]
steps: [cohort, survival]
"""
FIRST_STEP_DONE = "01_cohort.ipynb"


def write_study(folder: Path) -> None:
    g = pd.read_csv(paths.PUBLIC_DIR / "gbsg2.csv")
    pd.DataFrame({"patient_id": [f"PT{i:05d}" for i in g["id"]],
                  "hormone_therapy": np.where(g["horTh"] == "yes", "Y", "N"), "age": g["age"],
                  "grade": g["tgrade"], "time_days": g["time"], "relapse": g["cens"]}).to_csv(
        folder / "export.csv", index=False)
    (folder / "study.yaml").write_text(STUDY)


def command(folder: Path, root: Path) -> list[str]:
    return [sys.executable, "-m", "mbcrt", "run", "--config", str(folder / "study.yaml"), "--out", str(root)]


def foreground(limit_file_size: int | None = None):
    """What runs in the child before the run starts: Ctrl-C handled as in a terminal (a test run in the
    background inherits SIGINT ignored, and Python then never raises KeyboardInterrupt), and optionally
    a limit on file size."""
    def setup():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if limit_file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))
    return setup


def start(folder: Path, root: Path, limit_file_size: int | None = None) -> subprocess.Popen:
    """Start a run in its own process group, as a shell starts a foreground job."""
    return subprocess.Popen(command(folder, root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=foreground(limit_file_size))


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if text in line:
                return
            if not line and proc.poll() is not None:
                break
    raise AssertionError(f"no line with {text!r} (exit {proc.poll()}): {proc.stderr.read()[-2000:]}")


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, err


def group_gone(pgid: int, timeout: float = 30) -> bool:
    """Whether every process of the run's group (the kernel included) has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.5)
    os.killpg(pgid, signal.SIGKILL)  # do not leave our own processes behind, then fail
    return False


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def kernel_of(pid: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children(pid):
            try:
                cmdline = (Path("/proc") / str(child) / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ipykernel" in cmdline:
                return child
        time.sleep(0.2)
    raise AssertionError("no kernel started")


def snapshot(root: Path) -> dict[str, bytes]:
    """Outputs of the study: tables, figures, build files and the step pages (not the index, whose
    git commit may differ between runs, nor failed-notebook pages)."""
    files = {}
    for kind in ("tables", "figures", "build", "reports"):
        for p in sorted((root / kind / "interrupted").rglob("*")):
            if p.is_file() and "failed" not in p.parts:
                files[p.relative_to(root).as_posix()] = p.read_bytes()
    return files


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = tmp_path_factory.mktemp("interrupt")
    write_study(folder)
    root = folder / "out"
    proc = subprocess.run(command(folder, root), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = snapshot(root)
    assert any(n.endswith("km_summary.csv") for n in files) and any(n.endswith("04_survival.html") for n in files)
    return folder, root, files


def staging(root: Path) -> Path:
    return root / ".staging" / "interrupted"


def test_ctrl_c_after_the_first_step(good):
    folder, root, _ = good
    files = snapshot(root)
    proc = start(folder, root)
    wait_for_line(proc, FIRST_STEP_DONE)
    os.killpg(proc.pid, signal.SIGINT)   # what Ctrl-C sends to the foreground job
    code, err = finish(proc)
    assert code == 130, err[-2000:]
    # The last word is the clear message (a kernel channel torn down mid-call may print its own
    # traceback first: a known cosmetic issue of the runner, not a failure of the run's safety).
    assert err.strip().splitlines()[-1] == "mbcrt: interrupted; earlier results are unchanged."
    assert group_gone(proc.pid), "a kernel was left running"
    assert snapshot(root) == files
    assert not staging(root).exists()


def test_a_killed_kernel_is_a_step_failure(good):
    folder, root, _ = good
    files = snapshot(root)
    proc = start(folder, root)
    wait_for_line(proc, FIRST_STEP_DONE)
    os.kill(kernel_of(proc.pid), signal.SIGKILL)
    code, err = finish(proc)
    assert code == 1, err[-2000:]
    assert "step failed" in err and "04_survival.ipynb" in err and "Traceback" not in err
    assert group_gone(proc.pid)
    assert snapshot(root) == files
    assert not staging(root).exists()


def test_a_full_disk_is_a_step_failure_not_a_traceback(good):
    """Files may not grow past 400 kB: the first large write (a rendered page with its figures, after
    the first step) fails with an OSError as it would on a full disk."""
    folder, root, _ = good
    files = snapshot(root)
    proc = start(folder, root, limit_file_size=400_000)
    code, err = finish(proc, timeout=300)
    assert code == 1, err[-2000:]
    assert "mbcrt: step failed" in err and "Traceback" not in err, err[-3000:]
    assert group_gone(proc.pid)
    assert snapshot(root) == files
    assert not staging(root).exists()


def test_a_killed_run_leaves_staging_that_the_next_run_clears(good):
    folder, root, _ = good
    files = snapshot(root)
    proc = start(folder, root)
    wait_for_line(proc, FIRST_STEP_DONE)
    os.killpg(proc.pid, signal.SIGKILL)  # no clean-up code runs
    finish(proc)
    assert staging(root).exists(), "a killed run cannot clean up: this test needs its leftovers"
    assert snapshot(root) == files
    rerun = subprocess.run(command(folder, root), capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert not staging(root).exists()
    # The same results byte for byte; executed notebooks carry papermill's timestamps and run.json the
    # git commit, so those two may differ.
    def results(snap):
        return {n: b for n, b in snap.items() if not n.endswith((".ipynb", "run.json"))}

    assert results(snapshot(root)) == results(files)


def test_a_run_killed_while_promoting_is_rolled_back(tmp_path):
    """Outputs half-swapped when a run died are put back to the last good state at the next start."""
    from mbcrt.run import pipeline

    name = "demo"
    for kind in ("tables", "figures"):
        (tmp_path / kind / name).mkdir(parents=True)
        (tmp_path / kind / name / "x.csv").write_text("new\n")  # already promoted
        backup = tmp_path / ".staging" / f"{name}.previous" / kind
        backup.mkdir(parents=True)
        (backup / "x.csv").write_text("old\n")
    pipeline._recover(tmp_path, name)
    for kind in ("tables", "figures"):
        assert (tmp_path / kind / name / "x.csv").read_text() == "old\n"
    assert not (tmp_path / ".staging" / f"{name}.previous").exists()
