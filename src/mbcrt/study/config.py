"""The study file: what to analyse and how, loaded and validated with errors that name the key.

A study is one YAML file (``studies/<name>/study.yaml`` for the bundled ones, anywhere for a
user's own) plus a CSV. Paths inside it (``data``, ``published``) are relative to the file's folder.
See the README for every key; :data:`DEFAULTS` holds the statistical defaults.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mbcrt import paths
from mbcrt.errors import InputError, closest

#: Every step a study may list, in the order they run, with the notebook that runs it.
STEP_NOTEBOOKS = {
    "cohort": "01_cohort.ipynb",
    "baseline": "02_baseline.ipynb",
    "matching": "03_matching.ipynb",
    "survival": "04_survival.ipynb",
    "cox": "05_cox.ipynb",
    "subgroups": "06_subgroups.ipynb",
    "persistence": "08_persistence.ipynb",
    "reproduction": "07_reproduction.ipynb",
}

DEFAULTS: dict[str, Any] = {
    "description": "",
    "synthetic": False,
    "synthetic_note": "",
    "treatment": None,
    "treated_value": None,
    "arm_labels": {"treated": "Treated", "control": "Control"},
    "event_value": 1,
    "censored_value": 0,
    "endpoint": {"name": "primary", "label": "Survival"},
    "endpoints": [],
    "dates": [],
    "date_order": [],
    "data_cutoff": None,
    "covariates": [],
    "categorical": [],
    "levels": {},
    "labels": {},
    "subgroups": [],
    "subgroup_panels": None,  # levels drawn as Kaplan-Meier panels (None: every level)
    "landmarks": [],
    "derive": [],
    "criteria": [],
    "first_row_per_id": None,
    "table1": {"variables": None, "by": None},
    "km_by": [],
    "matching": {"ratio": 1, "caliper": 0.2, "caliper_scale": "logit", "order": "largest",
                 "replace": False, "covariates": None},
    "survival": {"conf_type": "log-log", "median_ci": "brookmeyer-crowley", "alpha": 0.05},
    "cox": {"ties": "efron", "covariates": None},
    "min_cell_count": 0,
    "published": None,
    "readings": [],
    "paper_names": {},
    "persistence": {},
    "seed": 20240101,
}
FREE_FORM = ("labels", "levels", "persistence", "arm_labels", "paper_names")
REQUIRED = ("name", "title", "data", "id", "time", "time_unit", "event", "steps")
TIME_UNITS = ("days", "months", "years")
CHOICES = {
    ("matching", "caliper_scale"): ("logit", "probability"),
    ("matching", "order"): ("largest", "smallest", "data", "random"),
    ("survival", "conf_type"): ("log-log", "log", "plain"),
    ("survival", "median_ci"): ("brookmeyer-crowley", "symmetric"),
    ("cox", "ties"): ("efron", "breslow"),
}


def _merge(base: dict, extra: dict, where: str, file: str) -> dict:
    """Overlay ``extra`` on ``base``; unknown keys are an error (with the closest known key)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if key not in base:
            raise InputError(f"unknown key '{where}{key}'.{closest(key, base)}", file=file)
        if isinstance(base[key], dict) and base[key] and isinstance(value, dict) \
                and key not in FREE_FORM:
            out[key] = _merge(base[key], value, f"{where}{key}.", file)
        else:
            out[key] = value
    return out


def parse_overrides(items: list[str] | None) -> dict:
    """Turn ``["matching.caliper=0.1", ...]`` into a nested dict; values are parsed as YAML."""
    result: dict = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return result


@dataclass
class Study:
    """A validated study file.

    Attributes
    ----------
    config : dict
        Every key with defaults filled in (and overrides applied).
    path : Path
        The study file.
    """

    config: dict
    path: Path

    def __getattr__(self, key):
        try:
            return self.__dict__["config"][key]
        except KeyError:
            raise AttributeError(key) from None

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def data_path(self) -> Path:
        return paths.resolve(self.config["data"], self.folder)

    @property
    def published_path(self) -> Path | None:
        pub = self.config.get("published")
        return paths.resolve(pub, self.folder) if pub else None

    @property
    def two_arm(self) -> bool:
        return bool(self.config.get("treatment"))

    @property
    def arms(self) -> list[str]:
        """Display labels of the arms, control first (the reference of every hazard ratio)."""
        lab = self.config["arm_labels"]
        return [lab["control"], lab["treated"]]

    def label(self, column: str) -> str:
        """The display label of a column (its name when none is given)."""
        return self.config["labels"].get(column, column)

    def notebooks(self) -> list[tuple[str, str]]:
        """(step, notebook file) in the order the study lists its steps."""
        return [(s, STEP_NOTEBOOKS[s]) for s in self.config["steps"]]

    def fingerprint(self) -> str:
        """A short hash of the effective configuration (for run metadata)."""
        blob = json.dumps(self.config, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def load_study(path: str | Path, overrides: list[str] | dict | None = None) -> Study:
    """Load, default and validate a study file.

    Parameters
    ----------
    path : str or Path
        The study YAML (relative paths are taken from the project root).
    overrides : list of str or dict, optional
        ``key.sub=value`` strings (as from ``--set``) or an equivalent nested dict.

    Returns
    -------
    Study

    Raises
    ------
    InputError
        The file is missing, not YAML, lacks a required key, has an unknown key or a bad value.
    """
    p = paths.resolve(path)
    shown = paths.relative(p)
    if not p.is_file():
        raise InputError("study file not found", file=shown)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"not a valid YAML file ({type(exc).__name__})", file=shown) from None
    except ValueError as exc:  # YAML reads 2021-02-30 as a date and fails there
        raise InputError(f"not a valid YAML file ({exc}: an impossible date?)", file=shown) from None
    if not isinstance(raw, dict):
        raise InputError("a study file is a YAML mapping of keys to values", file=shown)
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise InputError(f"missing required key(s): {', '.join(missing)}", file=shown)
    base = dict(DEFAULTS, **{k: None for k in REQUIRED})
    config = _merge(base, raw, "", shown)
    extra = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
    config = _merge(config, extra, "", "--set")
    _check(config, shown)
    return Study(config=config, path=p)


def _check(c: dict, file: str) -> None:
    """Validate values that a key alone cannot: units, choices, steps, arms."""
    def bad(msg, key):
        raise InputError(msg, file=file, column=key)

    if c["time_unit"] not in TIME_UNITS:
        bad(f"time_unit must be one of {', '.join(TIME_UNITS)}", "time_unit")
    for (sect, key), allowed in CHOICES.items():
        if c[sect][key] not in allowed:
            bad(f"must be one of {', '.join(allowed)} (got '{c[sect][key]}')", f"{sect}.{key}")
    steps = c["steps"]
    if not isinstance(steps, list) or not steps:
        bad("steps must be a non-empty list", "steps")
    for s in steps:
        if s not in STEP_NOTEBOOKS:
            bad(f"unknown step '{s}'.{closest(s, STEP_NOTEBOOKS)}", "steps")
    if steps[0] != "cohort":
        bad("the first step must be 'cohort'", "steps")
    two_arm_steps = {"matching", "subgroups"} & set(steps)
    if two_arm_steps and not c["treatment"]:
        bad(f"steps {sorted(two_arm_steps)} need a 'treatment' column", "treatment")
    if c["treatment"] and c["treated_value"] is None:
        bad("treated_value is required with treatment", "treated_value")
    m = c["matching"]
    if m["ratio"] != 1 or m["replace"]:
        bad("only 1:1 matching without replacement is implemented", "matching")
    if m["caliper"] is not None and not (isinstance(m["caliper"], (int, float)) and m["caliper"] > 0):
        bad("caliper must be a positive number or null", "matching.caliper")
    for key in ("covariates", "categorical", "subgroups", "landmarks"):
        if not isinstance(c[key], list):
            bad("must be a list", key)
    if c["subgroup_panels"] is not None and not isinstance(c["subgroup_panels"], list):
        bad("must be a list of subgroup levels, or null for every level", "subgroup_panels")
    unknown_cat = [v for v in c["categorical"] if v not in c["covariates"] + c["subgroups"]
                   + (c["table1"]["variables"] or [])]
    if unknown_cat:
        bad(f"categorical lists {unknown_cat}, which are not covariates, subgroups or table1 variables",
            "categorical")
    if not isinstance(c["min_cell_count"], int) or c["min_cell_count"] < 0:
        bad("min_cell_count must be a whole number >= 0", "min_cell_count")
    _check_dates(c, bad)


def _check_dates(c: dict, bad) -> None:
    """``data_cutoff`` is a YYYY-MM-DD date; ``date_order`` lists [earlier, later] pairs of ``dates``."""
    import datetime

    cutoff = c["data_cutoff"]
    if cutoff is not None:
        text = cutoff.isoformat() if isinstance(cutoff, datetime.date) else str(cutoff)
        try:
            datetime.date.fromisoformat(text)
        except ValueError:
            bad("data_cutoff must be a date written YYYY-MM-DD", "data_cutoff")
    pairs = c["date_order"]
    if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        bad("date_order must be a list of [earlier, later] pairs of date columns", "date_order")
    for name in (n for p in pairs for n in p):
        if name not in c["dates"]:
            bad(f"'{name}' is not one of the dates columns.{closest(name, c['dates'])}", "date_order")
