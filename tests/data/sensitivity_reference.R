# Reference numbers for tests/test_cox_counting_process.py, test_cox_weights.py,
# test_survival_weighted.py, test_rmst.py, test_timevarying.py (R 4, survival 3.5.3).
# Run from tests/data: Rscript sensitivity_reference.R
library(survival)
options(digits = 12)
d <- read.csv("sensitivity_cohort.csv")
d$grade <- factor(d$grade, levels = c("I", "II", "III"))
d$ever <- as.integer(!is.na(d$rt_time))
base <- tmerge(d, d, id = id, tstop = time, death = event(time, event))
tv <- tmerge(base, d, id = id, treated = tdc(rt_time))
cat("tmerge rows", nrow(tv), "events", sum(tv$death), "treated rows", sum(tv$treated), "\n")
show <- function(fit) print(summary(fit)$coefficients, digits = 12)
cat("== cp efron\n"); show(coxph(Surv(tstart, tstop, death) ~ treated + age + grade + er, data = tv))
cat("== cp breslow\n"); show(coxph(Surv(tstart, tstop, death) ~ treated + age + grade + er, data = tv, ties = "breslow"))
cat("== cp efron cluster\n"); show(coxph(Surv(tstart, tstop, death) ~ treated + age + grade + er, data = tv, cluster = id))
cat("== cp efron strata er\n"); show(coxph(Surv(tstart, tstop, death) ~ treated + age + strata(er), data = tv))
ps <- glm(ever ~ age + grade + er, family = binomial, data = d)$fitted.values
pt <- mean(d$ever)
w <- ifelse(d$ever == 1, pt / ps, (1 - pt) / (1 - ps))
d$w <- w
cat("== weighted efron robust\n"); show(coxph(Surv(time, event) ~ ever, data = d, weights = w, robust = TRUE))
cat("== weighted breslow robust\n"); show(coxph(Surv(time, event) ~ ever, data = d, weights = w, robust = TRUE, ties = "breslow"))
cat("== weighted efron multi robust\n"); show(coxph(Surv(time, event) ~ ever + age + er, data = d, weights = w, robust = TRUE))
tv$w <- d$w[match(tv$id, d$id)]
cat("== weighted cp efron cluster id\n"); show(coxph(Surv(tstart, tstop, death) ~ treated + age, data = tv, weights = w, cluster = id))
cat("== km weighted\n")
s <- summary(survfit(Surv(time, event) ~ 1, data = d, weights = w, conf.type = "log-log"), times = c(100, 365, 730, 1000))
print(data.frame(s$time, s$n.risk, s$surv, s$std.err, s$lower, s$upper), digits = 12)
cat("== km left-truncated (landmark-style entry) weighted\n")
s <- summary(survfit(Surv(tstart, tstop, death) ~ 1, data = tv[tv$treated == 1, ], weights = w, conf.type = "log-log"), times = c(100, 365, 730, 1000))
print(data.frame(s$time, s$n.risk, s$surv, s$std.err, s$lower, s$upper), digits = 12)
cat("== km left-truncated unweighted\n")
s <- summary(survfit(Surv(tstart, tstop, death) ~ 1, data = tv[tv$treated == 1, ], conf.type = "log-log"), times = c(100, 365, 730, 1000))
print(data.frame(s$time, s$n.risk, s$surv, s$std.err, s$lower, s$upper), digits = 12)
cat("== rmean unweighted by ever, tau 730\n")
print(summary(survfit(Surv(time, event) ~ ever, data = d), rmean = 730)$table[, c("rmean", "se(rmean)")], digits = 12)
cat("== rmean weighted by ever, tau 730\n")
print(summary(survfit(Surv(time, event) ~ ever, data = d, weights = w), rmean = 730)$table[, c("rmean", "se(rmean)")], digits = 12)
cat("== clone-censor-weight, grace 90, control 'grace', breaks 22.5 45 67.5 90\n")
grace <- 90; n <- nrow(d)
tr <- !is.na(d$rt_time) & d$rt_time <= d$time
s <- ifelse(tr, pmax(d$rt_time, 0), Inf)
ing <- s <= grace
keep1 <- ing | d$time <= grace
cl <- rbind(data.frame(row = 1:n, arm = 1, time = ifelse(keep1, d$time, grace), status = ifelse(keep1, d$event, 0), cens = as.integer(!keep1)),
            data.frame(row = 1:n, arm = 0, time = ifelse(ing, s, d$time), status = ifelse(ing, 0, d$event), cens = as.integer(ing)))
cl$end <- cl$time
cat("clones censored by arm:", tapply(cl$cens, cl$arm, sum), " events by arm:", tapply(cl$status, cl$arm, sum), "\n")
sp <- survSplit(Surv(time, status) ~ ., data = cl, cut = c(22.5, 45, 67.5, 90), episode = "interval")
sp$cens <- sp$cens * (sp$time == sp$end)
d$gII <- as.integer(d$grade == "II"); d$gIII <- as.integer(d$grade == "III")
sp <- cbind(sp, d[sp$row, c("age", "gII", "gIII", "er")])
sp$w <- 1
for (a in 0:1) {
  at <- sp$arm == a
  used <- sort(unique(sp$interval[at & sp$cens == 1]))
  for (j in used) sp[[paste0("iv", j)]] <- as.integer(sp$interval == j)
  f <- as.formula(paste("cens ~ 0 +", paste0("iv", used, collapse = " + "), "+ age + gII + gIII + er"))
  m <- glm(f, family = binomial, data = sp[at & sp$interval %in% used, ])
  b <- coef(m)
  xb <- as.matrix(d[, c("age", "gII", "gIII", "er")]) %*% b[-(1:length(used))]
  logkeep <- -log1p(exp(outer(as.vector(xb), b[1:length(used)], "+")))
  cum <- cbind(0, t(apply(logkeep, 1, cumsum)))
  if (length(used) == 1) cum <- cbind(0, logkeep)
  before <- findInterval(sp$interval[at] - 0.5, used)  # used intervals strictly before
  sp$w[at] <- exp(-cum[cbind(sp$row[at], before + 1)])
}
cat("rows", nrow(sp), "sum w", sum(sp$w), "max w", max(sp$w), "\n")
show(coxph(Surv(tstart, time, status) ~ arm, data = sp, weights = w, cluster = row))
show(coxph(Surv(tstart, time, status) ~ arm, data = sp, weights = w, cluster = row, ties = "breslow"))
for (a in 1:0) {
  s <- summary(survfit(Surv(tstart, time, status) ~ 1, data = sp[sp$arm == a, ], weights = w), times = c(90, 365, 730))
  print(data.frame(arm = a, s$time, s$surv), digits = 12)
}
cat("== weighted efron strata(er) robust\n"); show(coxph(Surv(time, event) ~ ever + age + strata(er), data = d, weights = w, robust = TRUE))
cat("== weighted cp efron strata(er) cluster id\n"); show(coxph(Surv(tstart, tstop, death) ~ treated + age + strata(er), data = tv, weights = w, cluster = id))
