"""One module per notebook step: a study and its cohorts in, tidy tables and figures out."""
