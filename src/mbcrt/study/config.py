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
    "imputation": "10_imputation.ipynb",
    "persistence": "08_persistence.ipynb",
    "sensitivity": "09_sensitivity.ipynb",
    "reproduction": "07_reproduction.ipynb",
}

DEFAULTS: dict[str, Any] = {
    "description": "",
    "synthetic": False,
    "synthetic_note": "",
    "treatment": None,
    "treated_value": None,
    "treatment_start": None,  # when treatment started: a date column or a time from the origin; empty if untreated
    "arm_labels": {"treated": "Treated", "control": "Control"},
    "event_value": 1,
    "censored_value": 0,
    "endpoint": {"name": "primary", "label": "Survival"},
    "endpoints": [],
    "dates": [],
    "date_format": None,  # strptime format(s) of dates written as text, tried in order; None: YYYY-MM-DD
    "date_order": [],
    # How to read the export (see mbcrt.study.read); None: the format's default.
    "encoding": None,  # of a CSV/TSV file (default UTF-8), e.g. latin-1, cp1252, gb18030
    "delimiter": None,  # one character, or "auto" to sniff it (default: comma; tab for .tsv)
    "sheet": None,  # workbook sheet: its name, or its position counting from 1 (default the first)
    "header_row": None,  # row holding the column names in a CSV file or workbook (default 1)
    "data_cutoff": None,
    "covariates": [],
    "categorical": [],
    "levels": {},
    "labels": {},
    "subgroups": [],
    "subgroup_panels": None,  # levels drawn as Kaplan-Meier panels (None: every level)
    "landmarks": [],
    "derive": [],
    # Long tables (one row per RT course, per line of therapy ...) joined on the patient id, for derive
    # entries that say from: a table (see mbcrt.study.linked): {name: {data, id, dates, ...}}.
    "linked": {},
    "criteria": [],
    "first_row_per_id": None,
    "table1": {"variables": None, "by": None},
    "km_by": [],
    "matching": {"ratio": 1, "caliper": 0.2, "caliper_scale": "logit", "order": "largest",
                 "replace": False, "covariates": None},
    "survival": {"conf_type": "log-log", "median_ci": "brookmeyer-crowley", "alpha": 0.05,
                 "time_step": None,  # x ticks and numbers at risk every so many time units (None: whole years)
                 "median_lines": False},  # dashed lines to the medians on Kaplan-Meier figures
    "cox": {"ties": "efron", "covariates": None},
    "min_cell_count": 0,
    "published": None,
    "readings": [],
    "paper_names": {},
    "persistence": {},
    # Step sensitivity (two-arm studies with treatment_start); null: a default the step states in the report.
    "sensitivity": {"landmarks": None, "grace": None, "bootstrap": 200, "rmst_horizon": None,
                    "analyses": ["all"], "note": ""},  # note: shown beside the numbers (how the data arose)
    "seed": 20240101,
    # Missing model covariates: "stop" (an error, as without the key), "complete_case" (rows dropped and
    # counted in the attrition) or "multiple_imputation" (chained equations; the imputation step).
    "missing": {"strategy": "stop", "imputations": 20, "seed": 1, "iterations": 10, "donors": 5,
                "methods": {}},
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
    ("missing", "strategy"): ("stop", "complete_case", "multiple_imputation"),
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
    config["dates"] = _with_interval_dates(config)
    _check(config, shown)
    return Study(config=config, path=p)


def _with_interval_dates(c: dict) -> list:
    """``dates`` plus the start and end columns of every derived ``interval`` (an interval is over dates,
    so its columns are read as dates even when the study file forgot to list them)."""
    dates = list(c["dates"]) if isinstance(c["dates"], list) else c["dates"]
    if not isinstance(dates, list) or not isinstance(c["derive"], list):
        return dates  # _check names the key
    derived = {d.get("name") for d in c["derive"] if isinstance(d, dict)}
    for rule in c["derive"]:
        spec = rule.get("interval") if isinstance(rule, dict) else None
        if not isinstance(spec, dict):
            continue
        ends = spec.get("end") if isinstance(spec.get("end"), list) else [spec.get("end")]
        for col in [spec.get("start"), *ends]:
            if isinstance(col, str) and col not in derived and col not in dates:
                dates.append(col)
    return dates


def _check(c: dict, file: str) -> None:
    """Validate values that a key alone cannot: units, choices, steps, arms."""
    def bad(msg, key):
        raise InputError(msg, file=file, column=key)

    if c["time_unit"] not in TIME_UNITS:
        bad(f"time_unit must be one of {', '.join(TIME_UNITS)}", "time_unit")
    _check_missing(c, bad)
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
    two_arm_steps = {"matching", "subgroups", "sensitivity"} & set(steps)
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
    if "sensitivity" in steps:
        _check_sensitivity(c, bad)
    if c["subgroup_panels"] is not None and not isinstance(c["subgroup_panels"], list):
        bad("must be a list of subgroup levels, or null for every level", "subgroup_panels")
    unknown_cat = [v for v in c["categorical"] if v not in c["covariates"] + c["subgroups"]
                   + (c["table1"]["variables"] or [])]
    if unknown_cat:
        bad(f"categorical lists {unknown_cat}, which are not covariates, subgroups or table1 variables",
            "categorical")
    step = c["survival"]["time_step"]
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0):
        bad("time_step must be a positive number of time units, or null for whole years", "survival.time_step")
    if not isinstance(c["survival"]["median_lines"], bool):
        bad("median_lines must be true or false", "survival.median_lines")
    if not isinstance(c["min_cell_count"], int) or c["min_cell_count"] < 0:
        bad("min_cell_count must be a whole number >= 0", "min_cell_count")
    _check_dates(c, bad)
    from mbcrt.study.linked import check_config as _check_linked  # the linked tables' keys and derive entries

    _check_linked(c, bad)
    _check_reading(c, bad)


def _check_reading(c: dict, bad) -> None:
    """The keys that say how to read the export: a known encoding, one delimiter character, a sheet
    name or position, a header row from 1, strptime date formats."""
    import codecs

    if c["encoding"] is not None:
        try:
            codecs.lookup(str(c["encoding"]))
        except LookupError:
            bad(f"unknown encoding '{c['encoding']}' (e.g. utf-8, latin-1, cp1252, gb18030)", "encoding")
    d = c["delimiter"]
    if d is not None and not (isinstance(d, str) and (len(d) == 1 or d == "auto")):
        bad("delimiter must be one character (e.g. \";\" or \"\\t\"), or auto to work it out", "delimiter")
    sheet = c["sheet"]
    by_position = isinstance(sheet, int) and not isinstance(sheet, bool) and sheet >= 1
    if sheet is not None and not ((isinstance(sheet, str) and sheet) or by_position):
        bad("sheet must be a sheet's name, or its position counting from 1", "sheet")
    h = c["header_row"]
    if h is not None and not (isinstance(h, int) and not isinstance(h, bool) and h >= 1):
        bad("header_row must be a whole number from 1 (the row holding the column names)", "header_row")
    f = c["date_format"]
    formats = [f] if isinstance(f, str) else f
    if f is not None and not (isinstance(formats, list) and formats
                              and all(isinstance(x, str) and "%" in x for x in formats)):
        bad("date_format must be a strptime format such as \"%d/%m/%Y\", or a list of them tried in order",
            "date_format")


#: The analyses of the sensitivity step, in the order it reports them.
SENSITIVITY_ANALYSES = ("naive", "exclude_immortal", "time_varying", "landmark", "clone_censor_weight",
                        "iptw_ate", "iptw_att", "overlap", "matched")


def _check_sensitivity(c: dict, bad) -> None:
    """The sensitivity step needs ``treatment_start``; its settings are positive numbers or null."""
    if not c["treatment_start"]:
        bad("the sensitivity step needs 'treatment_start': the column holding when treatment started",
            "treatment_start")
    s = c["sensitivity"]

    def positive(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0

    marks = s["landmarks"]
    if marks is not None and not (isinstance(marks, list) and marks and all(positive(v) for v in marks)):
        bad("must be a list of positive times (in time_unit), or null", "sensitivity.landmarks")
    for key in ("grace", "rmst_horizon"):
        if s[key] is not None and not positive(s[key]):
            bad("must be a positive time (in time_unit), or null", f"sensitivity.{key}")
    if not (isinstance(s["bootstrap"], int) and not isinstance(s["bootstrap"], bool) and s["bootstrap"] >= 0):
        bad("must be a whole number >= 0 (0: no bootstrap)", "sensitivity.bootstrap")
    names = s["analyses"]
    if not isinstance(names, list) or not names:
        bad("must be a non-empty list of analyses (or [all])", "sensitivity.analyses")
    for name in names:
        if name != "all" and name not in SENSITIVITY_ANALYSES:
            bad(f"unknown analysis '{name}'.{closest(name, SENSITIVITY_ANALYSES)}", "sensitivity.analyses")


def _check_missing(c: dict, bad) -> None:
    """``missing: complete_case`` is short for ``missing: {strategy: complete_case}``; multiple
    imputation needs at least 2 imputations and runs the ``imputation`` step (added when not listed)."""
    miss = c["missing"]
    if isinstance(miss, str) or miss is None:
        miss = c["missing"] = dict(DEFAULTS["missing"], strategy=miss or "stop")
    if not isinstance(miss, dict):
        bad("missing must be a strategy or a mapping {strategy, imputations, seed}", "missing")
    unknown = [k for k in miss if k not in DEFAULTS["missing"]]
    if unknown:
        bad(f"unknown key 'missing.{unknown[0]}'.{closest(unknown[0], DEFAULTS['missing'])}", "missing")
    miss = c["missing"] = {**DEFAULTS["missing"], **miss}  # a --set over the shorthand gives a partial mapping
    for key in ("imputations", "iterations", "donors", "seed"):
        low = 2 if key == "imputations" else 0 if key == "seed" else 1
        if not isinstance(miss[key], int) or isinstance(miss[key], bool) or miss[key] < low:
            bad(f"must be a whole number >= {low}", f"missing.{key}")
    if not isinstance(miss["methods"], dict) or any(m not in ("pmm", "logreg", "polyreg")
                                                     for m in miss["methods"].values()):
        bad("methods maps variables to pmm, logreg or polyreg", "missing.methods")
    steps = c["steps"] if isinstance(c["steps"], list) else []
    if miss["strategy"] == "multiple_imputation" and "imputation" not in steps and steps:
        later = [i for i, s in enumerate(steps) if s in ("persistence", "sensitivity", "reproduction")]
        steps.insert(later[0] if later else len(steps), "imputation")
    if "imputation" in steps and miss["strategy"] != "multiple_imputation":
        bad("the imputation step needs missing: {strategy: multiple_imputation}", "missing.strategy")


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
