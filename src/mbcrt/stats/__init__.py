"""Pure statistics on arrays and frames: no study file, no formatting."""
