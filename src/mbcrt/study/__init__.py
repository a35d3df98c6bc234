"""The study file, reading the data it names, the cohort build and the published numbers."""
