"""The runner: command line, papermill and kernels, staging and promotion, the notebook context."""
