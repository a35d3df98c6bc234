# The R side of tests/test_pooling.py: mice::pool on the five completed GBSG2 data sets of
# test_pooling.completed_sets(). Write them into a folder of your choice, then run this script on it:
#
#   out=$(mktemp -d)
#   .venv/bin/python -c "import sys; sys.path[:0] = ['tests']; from test_pooling import completed_sets; \
#       [d.to_csv(f'{sys.argv[1]}/cs{i + 1}.csv', index=False) for i, d in enumerate(completed_sets())]" "$out"
#   Rscript tests/data/pooling_reference.R "$out"
#
# Pinned from R 4.2.2, mice 3.15.0, survival 3.5.3.
suppressMessages({library(survival); library(mice)})
folder <- commandArgs(trailingOnly = TRUE)[1]
sets <- lapply(1:5, function(i) {
  d <- read.csv(file.path(folder, sprintf("cs%d.csv", i)))
  d$tgrade <- factor(d$tgrade, levels = c("I", "II", "III"))
  d$horTh <- factor(d$horTh, levels = c("no", "yes"))
  d
})
fit <- as.mira(lapply(sets, function(d) coxph(Surv(time, cens) ~ horTh + age + tsize + tgrade + pnodes, data = d)))
p <- pool(fit)  # dfcom = events - coefficients (mice's rule for coxph)
options(digits = 15, width = 250)
print(p$pooled[, c("term", "m", "estimate", "ubar", "b", "t", "dfcom", "df", "riv", "lambda", "fmi")])
print(summary(p, conf.int = TRUE))
print(pool(fit, dfcom = Inf)$pooled[, c("term", "df", "fmi")])
cat(R.version.string, " mice", as.character(packageVersion("mice")), " survival",
    as.character(packageVersion("survival")), "\n")
