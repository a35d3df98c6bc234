"""The proportional-hazards score test against R survival 3.5.3 ``cox.zph`` (R 4.2.2).

Data: data/public/gbsg2.csv, read in R as
    d <- read.csv("gbsg2.csv")
    d$horTh <- factor(d$horTh, levels = c("no", "yes"))
    d$menostat <- factor(d$menostat, levels = c("Pre", "Post"))
    d$tgrade <- factor(d$tgrade, levels = c("I", "II", "III"))
    m <- Surv(time, cens) ~ horTh + age + menostat + tsize + tgrade + pnodes + progrec + estrec
    e <- coxph(m, data = d); b <- coxph(m, data = d, ties = "breslow")
and printed with sprintf("%.15g", z$table[, "chisq"]) and sprintf("%.15g", z$table[, "p"]).
"""

import numpy as np
import pandas as pd
import pytest

from mbcrt.paths import PUBLIC_DIR
from mbcrt.stats.cox import cox_zph, fit_cox
from mbcrt.stats.design import design_matrix

RTOL = 1e-8
COVARIATES = ["horTh", "age", "menostat", "tsize", "tgrade", "pnodes", "progrec", "estrec"]
LEVELS = {"horTh": ["no", "yes"], "menostat": ["Pre", "Post"], "tgrade": ["I", "II", "III"]}
COLUMNS = ["horThyes", "age", "menostatPost", "tsize", "tgradeII", "tgradeIII", "pnodes", "progrec",
           "estrec"]

# z <- cox.zph(e, transform = "km")   (terms = TRUE: tgrade is one term with 2 df)
EFRON_KM_TERMS = {
    "chisq": [0.238521435647803, 10.437859628757, 5.40603045075502, 0.191142399237905, 10.7121086965387,
              0.807716788577694, 4.38554625635971, 5.89255510352698, 24.4210928337756],
    "p": [0.625276057176991, 0.00123458253835288, 0.0200672983697777, 0.661967504603453,
          0.00471949088632369, 0.368796144967448, 0.0362448760134554, 0.0152050234200171,
          0.00368294222237452],
}
# z <- cox.zph(e, transform = "km", terms = FALSE)
EFRON_KM_COLUMNS = {
    "chisq": [0.238521435647803, 10.437859628757, 5.40603045075502, 0.191142399237905, 3.25151754872404,
              8.80892331703576, 0.807716788577694, 4.38554625635971, 5.89255510352698, 24.4210928337756],
    "p": [0.625276057176991, 0.00123458253835288, 0.0200672983697777, 0.661967504603453,
          0.0713573629654408, 0.00299760871502786, 0.368796144967448, 0.0362448760134554,
          0.0152050234200171, 0.00368294222237452],
}
# z <- cox.zph(b, transform = "km")
BRESLOW_KM_TERMS = {
    "chisq": [0.238931490743627, 10.4251462359706, 5.40111449832008, 0.190406716572715, 10.7063116441622,
              0.80662196779915, 4.37949821927299, 5.88958064569889, 24.39870171511],
    "p": [0.624978915717935, 0.00124311013989241, 0.0201238970825994, 0.662578326253563,
          0.0047331902987143, 0.369120855367447, 0.0363737039651266, 0.0152307268919517,
          0.00371354329466974],
}
# cox.zph(e, transform = "identity" | "rank" | "log", terms = FALSE)$table[, "chisq"]
OTHER_TRANSFORMS = {
    "identity": [0.21763401817479, 9.11618665868662, 4.45200878598897, 0.160416950134297, 2.31061621329315,
                 6.308615458418, 1.11197332776922, 3.33876429944531, 3.72904419196299, 19.4598841525956],
    "rank": [0.238466018714764, 9.69606272044471, 4.86528282115698, 0.167859564107679, 2.64224843959932,
             7.40469534602885, 1.12252615025379, 4.21879639149212, 4.53040660501408, 22.0025894304924],
    "log": [0.343637340807715, 9.28136275300663, 5.05496423807664, 0.419545372892548, 3.56486989643022,
            9.16854899356189, 0.359557386854041, 3.81163883836683, 6.52961877103117, 23.4397324082639],
}
# d$block <- d$time %/% 30 + 1   (heavy ties)
# s <- coxph(Surv(block, cens) ~ horTh + age + pnodes + strata(tgrade), data = d, ties = ti)
# cox.zph(s, transform = tr, terms = FALSE)$table[, "chisq"]
STRATA_TIES = {
    ("efron", "km"): [0.0509877001102826, 7.40391224098526, 1.36878089102017, 8.75059737839382],
    ("efron", "identity"): [0.0626948440280219, 6.34117085963915, 1.8111029107471, 8.09310276732873],
    ("breslow", "km"): [0.0448524607949514, 7.2732573980512, 1.35202212643279, 8.60343848156136],
    ("breslow", "identity"): [0.0550358875276145, 6.2213914474162, 1.79116643551331, 7.95082293503359],
}


@pytest.fixture(scope="module")
def gbsg2():
    d = pd.read_csv(PUBLIC_DIR / "gbsg2.csv")
    d["block"] = d["time"] // 30 + 1
    return d


def multivariable(d, ties="efron"):
    X = design_matrix(d, COVARIATES, ["horTh", "menostat", "tgrade"], LEVELS)
    return fit_cox(X, d["time"], d["cens"], ties=ties)


def test_univariate_treatment_km(gbsg2):
    # reference: z <- cox.zph(coxph(Surv(time, cens) ~ horTh, data = d)); z$table[1, "p"]
    X = design_matrix(gbsg2, ["horTh"], ["horTh"], LEVELS)
    table = cox_zph(fit_cox(X, gbsg2["time"], gbsg2["cens"]))
    assert table.loc["horThyes", "p"] == pytest.approx(0.6334013999, rel=1e-8)
    assert table.loc["GLOBAL", "chisq"] == pytest.approx(table.loc["horThyes", "chisq"], rel=1e-12)


def test_multivariable_km_per_column(gbsg2):
    table = cox_zph(multivariable(gbsg2))
    assert list(table.index) == COLUMNS + ["GLOBAL"]
    assert list(table.columns) == ["chisq", "df", "p"]
    assert table["df"].tolist() == [1] * 9 + [9]
    np.testing.assert_allclose(table["chisq"], EFRON_KM_COLUMNS["chisq"], rtol=RTOL)
    np.testing.assert_allclose(table["p"], EFRON_KM_COLUMNS["p"], rtol=RTOL)


def test_multivariable_km_grouped_by_term(gbsg2):
    fit = multivariable(gbsg2)
    by_covariate = cox_zph(fit, terms=COVARIATES)
    assert list(by_covariate.index) == COVARIATES + ["GLOBAL"]
    assert by_covariate.loc["tgrade", "df"] == 2
    np.testing.assert_allclose(by_covariate["chisq"], EFRON_KM_TERMS["chisq"], rtol=RTOL)
    np.testing.assert_allclose(by_covariate["p"], EFRON_KM_TERMS["p"], rtol=RTOL)
    mapping = {c: [c] for c in COLUMNS if not c.startswith("tgrade")}
    mapping["tgrade"] = ["tgradeII", "tgradeIII"]
    by_mapping = cox_zph(fit, terms=mapping)
    assert by_mapping.loc["tgrade", "chisq"] == pytest.approx(EFRON_KM_TERMS["chisq"][4], rel=RTOL)


def test_multivariable_breslow_km(gbsg2):
    table = cox_zph(multivariable(gbsg2, "breslow"), terms=COVARIATES)
    np.testing.assert_allclose(table["chisq"], BRESLOW_KM_TERMS["chisq"], rtol=RTOL)
    np.testing.assert_allclose(table["p"], BRESLOW_KM_TERMS["p"], rtol=RTOL)


@pytest.mark.parametrize("transform", list(OTHER_TRANSFORMS))
def test_other_time_transforms(gbsg2, transform):
    table = cox_zph(multivariable(gbsg2), transform=transform)
    np.testing.assert_allclose(table["chisq"], OTHER_TRANSFORMS[transform], rtol=RTOL)


@pytest.mark.parametrize("ties,transform", list(STRATA_TIES))
def test_strata_and_heavy_ties(gbsg2, ties, transform):
    X = design_matrix(gbsg2, ["horTh", "age", "pnodes"], ["horTh"], LEVELS)
    fit = fit_cox(X, gbsg2["block"], gbsg2["cens"], ties=ties, strata=gbsg2["tgrade"])
    table = cox_zph(fit, transform=transform)
    np.testing.assert_allclose(table["chisq"], STRATA_TIES[(ties, transform)], rtol=RTOL)


def test_bad_arguments(gbsg2):
    fit = multivariable(gbsg2)
    with pytest.raises(ValueError, match="transform"):
        cox_zph(fit, transform="sqrt")
    with pytest.raises(ValueError, match="every design column"):
        cox_zph(fit, terms={"horTh": ["horThyes"]})
