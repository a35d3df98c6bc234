# The R side of benchmarks/run.py: the same work as the Python side, on the same CSV, timed.
#
#   Rscript benchmarks/bench.R <data.csv> <out_dir> <run_matchit: 0|1> <repeat>
#
# data.csv has the GBSG2 columns plus `treat` (0/1), `ps` (the propensity score the Python side fitted,
# 17 significant digits) and `dist` (that score on a grid of 2^-24, times 2^24: whole numbers).
# Prints key=value lines (times in seconds, best of <repeat> runs); writes to out_dir:
#   pairs_nocaliper.csv, pairs_caliper02.csv  (treated_id, control_id) from matchit(distance = dist)
#   cox_efron.csv, cox_breslow.csv  (term, coef, se)
#   km.csv  (group, n, events, median, lower, upper), logrank.csv  (chisq)
# Needs survival; MatchIt only when run_matchit = 1.
suppressMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
data_file <- args[1]; out_dir <- args[2]
run_matchit <- as.integer(args[3]) == 1; n_repeat <- as.integer(args[4])

best_of <- function(expr_fun, times = n_repeat) {
  best <- Inf; value <- NULL
  for (i in seq_len(times)) {
    gc(FALSE)
    t <- system.time(value <- expr_fun())[["elapsed"]]
    best <- min(best, t)
  }
  list(time = best, value = value)
}
say <- function(key, value) cat(key, "=", format(value, digits = 10), "\n", sep = "")

d <- read.csv(data_file)
d$tgrade <- factor(d$tgrade, levels = c("I", "II", "III"))
d$menostat <- factor(d$menostat, levels = c("Pre", "Post"))
d$horTh <- factor(d$horTh, levels = c("no", "yes"))
say("n", nrow(d))
say("version.R", paste(R.version$major, R.version$minor, sep = "."))
say("version.survival", as.character(packageVersion("survival")))

# Propensity score (glm), timed and compared with the Python side's ps column.
f_ps <- treat ~ age + menostat + tsize + tgrade + pnodes + progrec + estrec
r <- best_of(function() glm(f_ps, data = d, family = binomial)$fitted.values)
say("time.propensity_glm", r$time)
say("ps.max_abs_diff_vs_python", max(abs(r$value - d$ps)))

if (run_matchit) {
  suppressMessages(library(MatchIt))
  say("version.MatchIt", as.character(packageVersion("MatchIt")))
  # Matched on `dist`: the Python side's propensity score on a grid of 2^-24, times 2^24 (whole numbers).
  # MatchIt < 4.5.4 compares distances with C's integer abs() on some systems (Debian's 4.5.1 does),
  # which truncates score differences below 1 to 0: it then ignores the caliper and always takes the
  # lower neighbour. On whole-number distances integer abs() is exact, so this is MatchIt's intended
  # algorithm, and the Python side matches on dist / 2^24 (the same order, ties and nearest neighbours).
  # One run each: MatchIt's greedy matcher is quadratic, so repeats at 10^5 cost minutes.
  for (cal in c(NA, 0.2)) {
    key <- if (is.na(cal)) "nocaliper" else "caliper02"
    r <- best_of(function() {
      if (is.na(cal)) matchit(treat ~ age, data = d, method = "nearest", distance = d$dist)
      else matchit(treat ~ age, data = d, method = "nearest", distance = d$dist, caliper = cal)
    }, times = 1)
    say(paste0("time.matchit_", key), r$time)
    mm <- r$value$match.matrix
    keep <- !is.na(mm[, 1])
    pairs <- data.frame(treated_id = d$id[as.integer(rownames(mm))[keep]],
                        control_id = d$id[as.integer(mm[keep, 1])])
    write.csv(pairs, file.path(out_dir, paste0("pairs_", key, ".csv")), row.names = FALSE)
  }
}

f_cox <- Surv(time, cens) ~ horTh + age + menostat + tsize + tgrade + pnodes + progrec + estrec
for (ties in c("efron", "breslow")) {
  r <- best_of(function() coxph(f_cox, data = d, ties = ties))
  say(paste0("time.coxph_", ties), r$time)
  fit <- r$value
  write.csv(data.frame(term = names(coef(fit)), coef = sprintf("%.17g", coef(fit)),
                       se = sprintf("%.17g", sqrt(diag(fit$var)))),
            file.path(out_dir, paste0("cox_", ties, ".csv")), row.names = FALSE, quote = FALSE)
}

r <- best_of(function() {
  fit <- survfit(Surv(time, cens) ~ horTh, data = d, conf.type = "log-log")
  lr <- survdiff(Surv(time, cens) ~ horTh, data = d)
  list(fit = fit, lr = lr)
})
say("time.km_logrank", r$time)
tab <- summary(r$value$fit)$table
write.csv(data.frame(group = sub("horTh=", "", rownames(tab)), n = tab[, "records"], events = tab[, "events"],
                     median = tab[, "median"], lower = tab[, "0.95LCL"], upper = tab[, "0.95UCL"]),
          file.path(out_dir, "km.csv"), row.names = FALSE)
write.csv(data.frame(chisq = sprintf("%.17g", r$value$lr$chisq)), file.path(out_dir, "logrank.csv"),
          row.names = FALSE, quote = FALSE)
