"""Errors and warnings of the package, with the exit codes the command line uses.

An :class:`InputError` means the user's data or study file breaks a rule: the message names the
file, the column or key, the rule and how many rows break it, never the values of those rows.
It exits with :data:`EXIT_INPUT`, distinct from a failure of the code (:data:`EXIT_FAILURE`).
"""

from __future__ import annotations

import difflib

EXIT_OK = 0
EXIT_FAILURE = 1  # a step failed for a reason other than the input: a bug or the environment
EXIT_USAGE = 2  # the command line itself is wrong
EXIT_INPUT = 3  # the study file or the data break a rule
EXIT_BUSY = 4  # the study is being run by another run right now (nothing was done)


class InputError(ValueError):
    """The study file or the data break a rule.

    Parameters
    ----------
    message : str
        What rule is broken and how to fix it.
    file : str, optional
        The file at fault (study file or data file).
    column : str, optional
        The column or study-file key at fault.
    n_rows : int, optional
        How many rows break the rule.
    """

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None,
                 n_rows: int | None = None):
        self.file, self.column, self.n_rows, self.rule = file, column, n_rows, message
        where = []
        if file:
            where.append(f"file {file}")
        if column:
            where.append(f"column '{column}'")
        if n_rows is not None:
            where.append(f"{n_rows} row{'s' if n_rows != 1 else ''}")
        prefix = f"[{', '.join(where)}] " if where else ""
        super().__init__(prefix + message)

    def __reduce__(self):  # picklable across processes (studies may run in parallel)
        return (_rebuild_input_error, (self.rule, self.file, self.column, self.n_rows))


def _rebuild_input_error(message, file, column, n_rows):
    return InputError(message, file=file, column=column, n_rows=n_rows)


class RunBusy(RuntimeError):
    """Another run of the same study is in progress (a double click, a second terminal).

    Attributes
    ----------
    study : str
    pid : int or None
        The running run's process id.
    started : str or None
        When it started (UTC, ``YYYY-MM-DD HH:MM:SS``).
    """

    def __init__(self, study: str, pid: int | None = None, started: str | None = None):
        self.study, self.pid, self.started = study, pid, started
        who = f" (pid {pid}, started {started} UTC)" if pid else ""
        super().__init__(f"study '{study}' is being run by another run{who}: nothing was done; wait for it to "
                         f"finish, or stop it, then run again")

    def __reduce__(self):  # picklable across processes (studies may run in parallel)
        return (RunBusy, (self.study, self.pid, self.started))


class StatisticalWarning(UserWarning):
    """A result is computed but a reader should be told it is fragile (few events, imbalance, ...)."""


def closest(name: str, choices) -> str:
    """Return ' Did you mean ...?' for the closest of ``choices`` to ``name``, or ''."""
    match = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" Did you mean '{match[0]}'?" if match else ""
