"""mbcrt: reproducible notebooks for retrospective radiotherapy studies in metastatic breast cancer.

The analysis library behind the notebooks. Every statistic lives here, tested against R or a hand
computation; the notebooks only call it and narrate.
"""

__version__ = "0.1.0"
