# The R side of benchmarks/bench_sensitivity.py: counting-process Cox on the same start-stop rows.
#
#   Rscript benchmarks/bench_sensitivity.R <rows.csv> <out_dir> <repeat>
#
# rows.csv: id, tstart, tstop, event, treated, x1..x4 (written by the Python side).
# Prints key=value lines (best of <repeat> elapsed seconds); writes cox_efron.csv, cox_breslow.csv,
# cox_cluster.csv (term, coef, se) to out_dir, se the robust one for cox_cluster.
suppressMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
rows_file <- args[1]; out_dir <- args[2]; n_repeat <- as.integer(args[3])
best_of <- function(f) {
  best <- Inf; value <- NULL
  for (i in seq_len(n_repeat)) { gc(FALSE); t <- system.time(value <- f())[["elapsed"]]; best <- min(best, t) }
  list(time = best, value = value)
}
say <- function(key, value) cat(key, "=", format(value, digits = 10), "\n", sep = "")
tv <- read.csv(rows_file)
say("rows", nrow(tv))
f <- Surv(tstart, tstop, event) ~ treated + x1 + x2 + x3 + x4
for (ties in c("efron", "breslow")) {
  r <- best_of(function() coxph(f, data = tv, ties = ties))
  say(paste0("cox_", ties), r$time)
  write.csv(data.frame(term = names(coef(r$value)), coef = coef(r$value), se = sqrt(diag(r$value$var))),
            file.path(out_dir, paste0("cox_", ties, ".csv")), row.names = FALSE)
}
r <- best_of(function() coxph(f, data = tv, cluster = id))
say("cox_cluster", r$time)
write.csv(data.frame(term = names(coef(r$value)), coef = coef(r$value), se = sqrt(diag(r$value$var))),
          file.path(out_dir, "cox_cluster.csv"), row.names = FALSE)
