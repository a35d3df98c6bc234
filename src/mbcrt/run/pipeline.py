"""Run a study end to end: execute its notebooks with papermill into a staging folder, render them,
and move the results into place only when every step succeeded.

A study's notebooks run one after the other in one kernel (:class:`StudyKernel`), made to look fresh
before each step: a kernel start and the package's imports per notebook cost more than a small study's
whole analysis. Studies run in parallel in worker processes (``jobs``).

A failure stops the study with :class:`StepFailed` (naming the study, notebook, cell and error); the
failed notebook's HTML is kept under ``reports/<study>/failed/`` and the last good ``tables/``,
``figures/``, ``build/`` and ``reports/`` of the study are left untouched.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mbcrt import paths
from mbcrt.errors import InputError, RunBusy
from mbcrt.report import pages, study_report
from mbcrt.study.config import Study, load_study


class StepFailed(RuntimeError):
    """A notebook step raised an error.

    Attributes
    ----------
    study, notebook : str
    cell : int or None
        Execution count of the failing cell (``In [n]`` in the notebook and its HTML).
    ename, evalue : str
        The exception's type and message.
    """

    def __init__(self, study: str, notebook: str, cell: int | None, ename: str, evalue: str):
        self.study, self.notebook, self.cell, self.ename, self.evalue = study, notebook, cell, ename, evalue
        where = f"cell In [{cell}]" if cell is not None else "outside any cell (kernel died or output not written)"
        super().__init__(f"study '{study}', notebook {notebook}, {where}: {ename}: {evalue}")

    def __reduce__(self):  # picklable, so a study run in another process can report its failure
        return (StepFailed, (self.study, self.notebook, self.cell, self.ename, self.evalue))

    @property
    def is_input_error(self) -> bool:
        return self.ename == "InputError"


@dataclass
class StudyRun:
    """What one study's run did: steps with their timings, and where the outputs are."""

    study: Study
    steps: list[dict] = field(default_factory=list)


def _failed_cell(nb_path: Path) -> int | None:
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            return cell.get("execution_count")
    return None


#: The kernel's own start-up chatter is not the user's business.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]

#: Sent (silently, before each step) to a kernel shared by a study's steps: see
#: :func:`mbcrt.run.context.prepare_kernel_for_step`. Binds no name in the user namespace.
_PREPARE_STEP = "__import__('mbcrt.run.context').run.context.prepare_kernel_for_step()"


def _block_slow_optional_imports() -> None:
    """Keep ``rfc3987_syntax`` out of this process: ``jsonschema`` imports it, when installed, for
    its "iri" format checks, and it compiles a grammar on import (2-4 s in every runner process;
    python-jsonschema/jsonschema#1521). nbformat's schemas use no such format, so importing nbformat,
    papermill and nbconvert without it changes nothing but their start-up time."""
    import sys

    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # None in sys.modules: import raises ImportError


def warm_up() -> None:
    """Import what running and rendering notebooks needs (papermill, nbconvert, the kernel client).

    Called before studies are run in worker processes, so forked workers inherit the modules instead
    of each importing them again.
    """
    _block_slow_optional_imports()
    import jupyter_client  # noqa: F401
    import nbconvert  # noqa: F401
    import papermill  # noqa: F401


class StudyKernel:
    """One kernel running every step of a study in turn, each step made to look fresh.

    A kernel per notebook costs a kernel start and the package's imports every time (3-5 s per
    step, whatever the study's size). Here the kernel starts once; before each step
    :func:`mbcrt.run.context.prepare_kernel_for_step` empties the user namespace, sets the execution
    count back to 1 and restores the warning filters, so a notebook sees what a fresh kernel shows
    it and its report is the same. A kernel that died is not restarted: the next step fails.

    Use as a context manager; the kernel is shut down on leaving, also on error or Ctrl-C.
    """

    def __init__(self):
        self.manager = None

    def __enter__(self) -> "StudyKernel":
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self.manager = AsyncKernelManager(kernel_name="python3")
        # The working directory papermill gives a notebook's own kernel.
        run_sync(self.manager.start_kernel)(extra_arguments=KERNEL_ARGUMENTS, cwd=str(paths.NOTEBOOKS_DIR))
        return self

    def __exit__(self, *exc) -> None:
        from jupyter_core.utils import run_sync

        if self.manager is not None:
            with contextlib.suppress(Exception):  # already dead, or Ctrl-C while it was stopping
                run_sync(self.manager.shutdown_kernel)(now=True)
            self.manager = None


def _shared_kernel_engine():
    """Papermill's nbclient engine, running the notebook in a :class:`StudyKernel` (registered once)."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger

    name = "mbcrt-study-kernel"
    if name in papermill_engines._engines:
        return name

    class StepClient(PapermillNotebookClient):
        """Runs :data:`_PREPARE_STEP` in the kernel before the notebook's cells."""

        def papermill_execute_cells(self):
            reply = self.wait_for_reply(self.kc.execute(_PREPARE_STEP, silent=True, store_history=False,
                                                        allow_stdin=False))
            if reply is None or reply["content"]["status"] != "ok":
                content = reply["content"] if reply else {}
                raise RuntimeError(f"the kernel could not be prepared for the step: {content.get('ename', '')} "
                                   f"{content.get('evalue', 'no reply')}")
            super().papermill_execute_cells()

    class StudyKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
            kwargs.pop("input_path", None)
            client = StepClient(nb_man, kernel_name=kernel_name, timeout=execution_timeout,
                                startup_timeout=start_timeout, log=logger, log_output=log_output,
                                stdout_file=stdout_file, stderr_file=stderr_file, **kwargs)
            try:
                return client.execute()
            finally:
                if client.kc is not None:  # the kernel is the study's: close only this step's channels
                    client.kc.stop_channels()

    papermill_engines.register(name, StudyKernelEngine)
    return name


def execute_step(study: Study, step: str, notebook: str, staging: Path, overrides: list[str],
                 kernel: StudyKernel | None = None) -> Path:
    """Execute one notebook into ``staging/reports/<study>/`` and render its two HTML files.

    In ``kernel`` when given (a study's shared kernel), else in a kernel of its own.
    """
    _block_slow_optional_imports()
    import papermill as pm

    out_dir = staging / "reports" / study.name
    out_dir.mkdir(parents=True, exist_ok=True)
    out_nb = out_dir / notebook
    params = {
        # Project-relative where possible: reports must not carry machine paths.
        "study_file": _portable(study.path),
        "overrides": json.dumps(list(overrides)),
        "out_root": _portable(staging),
    }
    engine = {"extra_arguments": KERNEL_ARGUMENTS}
    if kernel is not None:
        engine = {"engine_name": _shared_kernel_engine(), "km": kernel.manager}
    try:
        pm.execute_notebook(str(paths.NOTEBOOKS_DIR / notebook), str(out_nb), parameters=params,
                            kernel_name="python3", cwd=str(paths.NOTEBOOKS_DIR), progress_bar=False,
                            log_output=False, report_mode=False, **engine)
    except pm.PapermillExecutionError as exc:
        pages.render_notebook(out_nb, study)
        raise StepFailed(study.name, notebook, _failed_cell(out_nb), exc.ename, exc.evalue) from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - a dead kernel, a full disk: still one clear message
        try:
            pages.render_notebook(out_nb, study)
        except Exception:  # noqa: BLE001 - nothing readable to keep; the message below says what failed
            pass
        raise StepFailed(study.name, notebook, None, type(exc).__name__, str(exc).splitlines()[0] if str(exc)
                         else "") from None
    pages.render_notebook(out_nb, study)
    return out_nb


def _portable(p: Path) -> str:
    p = Path(p).resolve()
    try:
        return p.relative_to(paths.PROJECT_ROOT).as_posix()
    except ValueError:
        return str(p)


def run_study(study_file: str | Path, overrides: list[str] | None = None, *, progress=print,
              root: Path | None = None) -> StudyRun:
    """Run every step of one study; on success move its outputs into place.

    Parameters
    ----------
    study_file : str or Path
    overrides : list of str, optional
        ``key=value`` overrides of the study file.
    progress : callable
        Called with one line per finished step.
    root : Path, optional
        Output root (default the project root): ``tables/``, ``figures/``, ``build/``, ``reports/``
        and the staging folder live under it.

    Raises
    ------
    InputError
        The study file is invalid (before anything runs).
    StepFailed
        A step failed; earlier results are untouched.
    """
    overrides = list(overrides or [])
    study = load_study(study_file, overrides)
    run = StudyRun(study)
    root = Path(root) if root is not None else paths.PROJECT_ROOT
    staging = root / paths.STAGING_DIR.name / study.name
    lock = StudyLock(root, study.name).acquire(progress)  # a second run of the study stops here (RunBusy)
    try:
        _recover(root, study.name)
        shutil.rmtree(staging, ignore_errors=True)  # a previous interrupted run leaves nothing behind
        staging.mkdir(parents=True)
        with StudyKernel() as kernel:
            for step, notebook in study.notebooks():
                t0 = time.perf_counter()
                try:
                    execute_step(study, step, notebook, staging, overrides, kernel=kernel)
                except StepFailed:
                    _keep_failed(staging, study.name, notebook, root)
                    raise
                elapsed = time.perf_counter() - t0
                run.steps.append({"step": step, "notebook": notebook, "seconds": round(elapsed, 1)})
                progress(f"[{study.name}] {notebook:<22} done in {elapsed:5.1f} s")
        pages.write_run_metadata(study, staging, overrides, run.steps)
        # The study report reads the staged outputs, so it is promoted (or discarded) with them.
        study_report.write_study_report(staging, study.name)
        _promote(staging, study.name, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        lock.release()
    return run


class StudyLock:
    """One run of a study at a time under one output root: ``.staging/<study>.lock`` (git-ignored).

    The lock is an exclusive ``flock`` on that file, which the operating system drops when the
    process ends however it ends, so a lock left by a killed run is never in force: the file still
    names it (pid, start time), and the next run takes it over and says so. The file is never
    deleted (deleting a lock file another run has open lets two runs in at once); a released lock
    names no run. A second run while the first is running raises :class:`~mbcrt.errors.RunBusy`
    at once, naming the running one.

    Parameters
    ----------
    root : Path
        The output root.
    name : str
        The study.
    """

    def __init__(self, root: Path, name: str):
        self.path = Path(root) / paths.STAGING_DIR.name / f"{name}.lock"
        self.name = name
        self.fd: int | None = None

    def acquire(self, progress=None) -> "StudyLock":
        """Take the lock, or raise :class:`~mbcrt.errors.RunBusy` naming the run holding it."""
        import datetime
        import os

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _flock(fd):
                holder = _lock_holder(fd)
                raise RunBusy(self.name, holder.get("pid"), holder.get("started"))
            holder = _lock_holder(fd)
            if holder.get("pid") and progress is not None:
                progress(f"[{self.name}] took over the lock of an earlier run that is no longer running "
                         f"(pid {holder['pid']}, started {holder.get('started')} UTC)")
            started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "started": started}).encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def release(self) -> None:
        """Release the lock (the file stays, naming no run)."""
        import os

        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)  # drops the flock
            self.fd = None


def _lock_holder(fd: int) -> dict:
    """The run a lock file names: ``{"pid": ..., "started": ...}``, or ``{}``."""
    import os

    try:
        record = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def _flock(fd: int) -> bool:
    """Whether the exclusive lock was taken (where there is no flock, as on Windows: whether the file
    names no live process)."""
    try:
        import fcntl
    except ImportError:
        pid = _lock_holder(fd).get("pid")
        return not (pid and _alive(int(pid)))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _keep_failed(staging: Path, name: str, notebook: str, root: Path) -> None:
    """Copy the failed notebook's HTML to reports/<study>/failed/ for inspection."""
    src = staging / "reports" / name
    dest = root / "reports" / name / "failed"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    stem = Path(notebook).stem
    for f in src.glob(f"{stem}*"):
        shutil.copy2(f, dest / f.name)


def _promote(staging: Path, name: str, root: Path) -> None:
    """Replace the study's outputs by the staged ones.

    The previous outputs are kept in ``.staging/<study>.previous`` until every kind is in place, and
    Ctrl-C is held off meanwhile; a run killed half-way is rolled back by :func:`_recover`.
    """
    backup = staging.parent / f"{name}.previous"
    shutil.rmtree(backup, ignore_errors=True)
    with _no_interrupt():
        for kind in paths.OUTPUT_KINDS:
            new, old = staging / kind / name, root / kind / name
            if not new.exists():
                continue
            old.parent.mkdir(parents=True, exist_ok=True)
            if old.exists():
                backup.mkdir(parents=True, exist_ok=True)
                old.rename(backup / kind)
            new.rename(old)
        shutil.rmtree(backup, ignore_errors=True)


def _recover(root: Path, name: str) -> None:
    """Put back the outputs of a run that was killed while promoting its results."""
    backup = root / paths.STAGING_DIR.name / f"{name}.previous"
    if not backup.is_dir():
        return
    for kept in backup.iterdir():
        live = root / kept.name / name
        shutil.rmtree(live, ignore_errors=True)
        kept.rename(live)
    shutil.rmtree(backup, ignore_errors=True)


@contextlib.contextmanager
def _no_interrupt():
    """Hold Ctrl-C off (in the main thread) while outputs are being swapped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def bundled_studies() -> list[Path]:
    """Study files under ``studies/``, in name order."""
    return sorted(paths.STUDIES_DIR.glob("*/study.yaml"))


class RunFailed(RuntimeError):
    """One or more studies failed; ``failures`` holds each study's error (the others succeeded)."""

    def __init__(self, failures: list[Exception]):
        self.failures = failures
        super().__init__("; ".join(str(f) for f in failures))

    @property
    def input_errors_only(self) -> bool:
        return all(isinstance(f, (InputError, RunBusy)) or getattr(f, "is_input_error", False)
                   for f in self.failures) and not self.busy_only

    @property
    def busy_only(self) -> bool:
        """Every failure is a study another run is running (nothing was done)."""
        return all(isinstance(f, RunBusy) for f in self.failures)


def _run_one(study_file, overrides, progress, root):
    """Run one study; any failure comes back as a value, so one study's failure never stops another's."""
    try:
        return run_study(study_file, overrides, progress=progress, root=root)
    except (StepFailed, InputError, RunBusy) as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - e.g. a full disk while moving outputs: still one message
        return StepFailed(Path(study_file).parent.name, "-", None, type(exc).__name__, str(exc))


def run_many(study_files: list[Path], overrides: list[str] | None = None, *, progress=print,
             root: Path | None = None, jobs: int = 1) -> list[StudyRun]:
    """Run several studies, ``jobs`` at a time (independent studies share nothing), then write the index.

    Every study is run even when one fails; :class:`RunFailed` lists every failure after the index
    (of the studies that succeeded) is written.
    """
    files, names = [], set()
    for f in study_files:  # the same study twice would share (and wreck) one staging folder
        name = load_study(f, overrides).name
        if name in names:
            raise InputError(f"study '{name}' is named twice in one run", file=paths.relative(f))
        names.add(name)
        files.append(f)
    warm_up()
    if jobs > 1 and len(files) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(jobs, len(files))) as pool:
            results = list(pool.map(_run_one, files, [overrides] * len(files), [progress] * len(files),
                                    [root] * len(files)))
    else:
        results = [_run_one(f, overrides, progress, root) for f in files]
    if not all(isinstance(r, RunBusy) for r in results):  # a refused run leaves the index to the running one
        pages.write_index(root)
    failures = [r for r in results if isinstance(r, Exception)]
    if failures:
        raise RunFailed(failures)
    return results


__all__ = ["RunFailed", "StepFailed", "StudyRun", "run_study", "run_many", "bundled_studies", "InputError"]
