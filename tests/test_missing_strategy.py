"""The study file's ``missing`` key: without it a missing model covariate stops the run (as before);
``complete_case`` drops those patients and counts them in the attrition per variable;
``multiple_imputation`` keeps them, and the whole pipeline runs with the imputation step."""

import numpy as np
import pandas as pd
import pytest
import yaml

from mbcrt import paths
from mbcrt.errors import InputError
from mbcrt.study.cohort import build_cohort
from mbcrt.study.config import load_study

BASE = yaml.safe_load((paths.STUDIES_DIR / "gbsg2" / "study.yaml").read_text(encoding="utf-8"))


def _study(folder, missing=None, steps=None, **extra):
    """GBSG2 with 15% of tumour size and 10% of grade missing (seeded), and its study file."""
    g = pd.read_csv(paths.PUBLIC_DIR / "gbsg2.csv")
    rng = np.random.default_rng(2024)
    g.loc[rng.random(len(g)) < 0.15, "tsize"] = np.nan
    g.loc[rng.random(len(g)) < 0.10, "tgrade"] = None
    g.to_csv(folder / "gaps.csv", index=False)
    config = dict(BASE, name="gbsg2_gaps", data="gaps.csv", **extra)
    config.pop("published", None)
    config["steps"] = steps or [s for s in BASE["steps"] if s != "reproduction"]
    if missing is not None:
        config["missing"] = missing
    (folder / "study.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return folder / "study.yaml", g


def test_without_the_key_a_missing_covariate_stops_the_run(tmp_path):
    path, _ = _study(tmp_path)
    with pytest.raises(InputError, match="missing value in a model covariate") as err:
        build_cohort(load_study(path))
    assert "tsize" in str(err.value)


def test_complete_case_counts_the_rows_dropped_per_variable(tmp_path):
    path, g = _study(tmp_path, missing={"strategy": "complete_case"})
    res = build_cohort(load_study(path))
    size_missing = g["tsize"].isna()
    grade_only = g["tgrade"].isna() & ~size_missing
    att = res.attrition.set_index("criterion")
    assert att.loc["Missing Tumour size (mm)", "excluded"] == size_missing.sum()
    assert att.loc["Missing Tumour grade", "excluded"] == grade_only.sum()
    assert att.loc["Analysis cohort", "remaining"] == len(res.cohort) == len(g) - size_missing.sum() - grade_only.sum()
    assert list(att["remaining"].iloc[1:-1]) == [len(g) - size_missing.sum(), len(res.cohort)]
    assert not res.cohort[["tsize", "tgrade"]].isna().any().any()
    assert list(res.attrition["order"]) == list(range(len(res.attrition)))
    assert len(res.with_missing) == len(g)  # what the missingness table describes


def test_shorthand_and_bad_values(tmp_path):
    path, _ = _study(tmp_path, missing="complete_case")
    assert load_study(path).missing["strategy"] == "complete_case"
    with pytest.raises(InputError, match="must be one of"):
        load_study(path, ["missing.strategy=impute"])
    with pytest.raises(InputError, match="whole number >= 2"):
        load_study(path, ["missing.strategy=multiple_imputation", "missing.imputations=1"])
    with pytest.raises(InputError, match="imputation step needs"):
        _study(tmp_path, steps=["cohort", "imputation"])
        load_study(tmp_path / "study.yaml")


def test_multiple_imputation_keeps_the_patients_and_adds_the_step(tmp_path):
    path, g = _study(tmp_path, missing={"strategy": "multiple_imputation", "imputations": 5, "seed": 1})
    study = load_study(path)
    assert "imputation" in study.steps and study.steps.index("imputation") > study.steps.index("cox")
    res = build_cohort(study)
    assert len(res.cohort) == len(g)
    assert res.cohort["tsize"].isna().sum() == g["tsize"].isna().sum()


@pytest.mark.integration
def test_multiple_imputation_end_to_end(tmp_path):
    from mbcrt.run.pipeline import run_study

    path, g = _study(tmp_path, missing={"strategy": "multiple_imputation", "imputations": 5, "seed": 1},
                     steps=["cohort", "baseline", "matching", "cox", "imputation"])
    root = tmp_path / "out"
    run_study(path, progress=lambda line: None, root=root)
    tables = root / "tables" / "gbsg2_gaps"
    mi = pd.read_csv(tables / "mi_cox.csv")
    assert {"hr", "lower", "upper", "p", "fmi", "m"} <= set(mi.columns) and (mi["m"] == 5).all()
    treat = mi[(mi.cohort == "all") & (mi.model == "multivariable") & (mi.term == "horTh")].iloc[0]
    assert 0.4 < treat["hr"] < 1 and treat["lower"] < treat["hr"] < treat["upper"]
    lm = pd.read_csv(tables / "mi_landmarks.csv")
    assert {"endpoint", "cohort", "group", "time", "surv", "lower", "upper", "n_risk", "fmi", "m"} <= set(lm.columns)
    miss = pd.read_csv(tables / "missingness.csv")
    row = miss[(miss.variable == "tsize") & (miss.group == "All")].iloc[0]
    assert row["missing"] == g["tsize"].isna().sum()
    assert (root / "figures" / "gbsg2_gaps" / "missingness.png").exists()
    assert (tables / "data_profile.csv").exists()
    # Table 1 shows the observed data with the number missing
    t1 = pd.read_csv(tables / "table1_all.csv")
    assert t1.loc[t1.variable == "tsize", "missing"].iloc[0] == g["tsize"].isna().sum()
    # the usual Cox step used the complete cases, and says so
    html = (root / "reports" / "gbsg2_gaps" / "05_cox.html").read_text(encoding="utf-8")
    assert "Complete cases" in html
    cox = pd.read_csv(tables / "cox_multivariable.csv")
    assert cox["n"].iloc[0] == len(g) - int(g[["tsize", "tgrade"]].isna().any(axis=1).sum())
    report = (root / "reports" / "gbsg2_gaps" / "10_imputation.html").read_text(encoding="utf-8")
    assert "imputed 5 times by chained equations" in report and "fraction of missing information" in report


def test_imputation_step_small_cells_and_other_strategies(tmp_path):
    from mbcrt.steps.imputation import MI_COX_COLUMNS, imputation_step

    path, g = _study(tmp_path, missing={"strategy": "multiple_imputation", "imputations": 2, "seed": 1,
                                        "iterations": 2}, min_cell_count=5)
    study = load_study(path)
    res = imputation_step(study, build_cohort(study).cohort)
    assert list(res.cox.columns) == MI_COX_COLUMNS and (res.cox["m"] == 2).all()
    assert "suppressed" in res.landmarks.columns
    assert "imputed 2 times" in res.methods
    # a study without multiple imputation: nothing to pool, and the step says so
    plain = load_study(paths.STUDIES_DIR / "gbsg2" / "study.yaml")
    empty = imputation_step(plain, build_cohort(plain).cohort)
    assert empty.cox.empty and "does not impute" in empty.methods
