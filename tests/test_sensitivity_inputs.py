"""Bad treatment-start data and sensitivity settings, run through the command line as a user would: each
stops with exit code 3 and one message naming the column (or key), the rule and how many rows break it,
never the values of those rows."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_sensitivity_unseen import STUDY, simulate, write_study

pytestmark = pytest.mark.integration

N = 400


def _shift(dates: pd.Series, rows, days: int) -> pd.Series:
    out = dates.copy()
    out[rows] = (pd.to_datetime(dates[rows]) + pd.Timedelta(days=days)).dt.strftime("%Y-%m-%d")
    return out


def _treated(d, k):
    return d.index[d["treated"] == "yes"][3::17][:k]


def _untreated(d, k):
    return d.index[d["treated"] == "no"][5::19][:k]


def after_end(d):
    rows = _treated(d, 3)
    end = d["death_date"].where(d["death_date"] != "", d["last_contact"])
    d["treatment_date"] = d["treatment_date"].where(~d.index.isin(rows), _shift(end, rows, 10))
    return d, rows


def before_origin(d):
    rows = _treated(d, 4)
    d["treatment_date"] = d["treatment_date"].where(~d.index.isin(rows), _shift(d["origin_date"], rows, -5))
    return d, rows


def untreated_with_date(d):
    rows = _untreated(d, 5)
    d["treatment_date"] = d["treatment_date"].where(~d.index.isin(rows), _shift(d["origin_date"], rows, 1))
    return d, rows


def treated_without_date(d):
    rows = _treated(d, 2)
    d.loc[rows, "treatment_date"] = ""
    return d, rows


CASES = {
    # name: (make the export, words of the rule, rows)
    "after the end of follow-up": (after_end, "after the end of follow-up", 3),
    "before the origin": (before_origin, "before the time origin 'origin_date'", 4),
    "given for an untreated patient": (untreated_with_date, "given for an untreated patient", 5),
    "missing for a treated patient": (treated_without_date, "missing for a treated patient", 2),
}


def cli(study_file: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mbcrt", "run", "--config", str(study_file), "--out", str(out)],
                          capture_output=True, text=True, timeout=900)


def _no_values(err: str, d: pd.DataFrame, rows) -> None:
    shown = [v for col in ("pid", "origin_date", "treatment_date", "death_date", "last_contact")
             for v in d.loc[rows, col] if v and v in err]
    assert shown == [], "the message shows values of the broken rows"
    assert "Traceback" not in err


@pytest.mark.parametrize("case", list(CASES))
def test_bad_treatment_start_stops_with_exit_3(tmp_path, case):
    make, rule, n_rows = CASES[case]
    data, rows = make(simulate(N))
    proc = cli(write_study(tmp_path / "study", data), tmp_path / "out")
    err = proc.stderr
    assert proc.returncode == 3, err[-2000:]
    assert "column 'treatment_date'" in err and rule in err, err[-2000:]
    assert re.search(rf"\b{n_rows} rows?\b", err), err[-2000:]
    _no_values(err, data, rows)


def test_a_treatment_start_of_neither_dates_nor_times_stops_with_exit_3(tmp_path):
    data = simulate(N)
    data["treatment_when"] = np.where(data["treated"] == "yes", "early", "")
    study = STUDY.replace("treatment_start: treatment_date", "treatment_start: treatment_when")
    proc = cli(write_study(tmp_path / "study", data, study), tmp_path / "out")
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "column 'treatment_when'" in proc.stderr and "listed under dates" in proc.stderr
    assert "early" not in proc.stderr


def test_a_misspelt_treatment_start_column_is_named_with_the_closest(tmp_path):
    study = STUDY.replace("treatment_start: treatment_date", "treatment_start: treatment_dat")
    proc = cli(write_study(tmp_path / "study", simulate(N), study), tmp_path / "out")
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "treatment_dat" in proc.stderr and "Did you mean 'treatment_date'?" in proc.stderr


@pytest.mark.parametrize("change, key", [
    (("treatment_start: treatment_date\n", ""), "treatment_start"),
    (("sensitivity: {bootstrap: 100}", "sensitivity: {analyses: [naive, timevarying]}"), "sensitivity.analyses"),
    (("sensitivity: {bootstrap: 100}", "sensitivity: {grace: -1}"), "sensitivity.grace"),
    (("sensitivity: {bootstrap: 100}", "sensitivity: {landmarks: 6}"), "sensitivity.landmarks"),
    (("sensitivity: {bootstrap: 100}", "sensitivity: {bootstrap: 1.5}"), "sensitivity.bootstrap"),
])
def test_bad_sensitivity_settings_stop_with_exit_3(tmp_path, change, key):
    study = STUDY.replace(*change)
    assert study != STUDY
    proc = cli(write_study(tmp_path / "study", simulate(50), study), tmp_path / "out")
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert f"'{key}'" in proc.stderr, proc.stderr[-2000:]
    if key == "sensitivity.analyses":
        assert "Did you mean 'time_varying'?" in proc.stderr
