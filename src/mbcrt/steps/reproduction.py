"""Step 7, reproduction check: every published number against this run's tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mbcrt.study.config import Study


@dataclass
class ReproductionStep:
    table: pd.DataFrame
    headline: str
    readings: str


def reproduction_step(study: Study, tables_dir) -> ReproductionStep:
    """Score every published number (``published.yaml``) against this run's tables."""
    from mbcrt.study import published

    if study.published_path is None:
        table = pd.DataFrame(columns=published.COLUMNS)
        headline = "This study lists no published numbers to check."
    else:
        table = published.reproduction_table(study.published_path, tables_dir)
        counts = table["status"].value_counts()
        parts = [f"**{counts.get(s, 0)}** {s}" for s in published.STATUSES]
        headline = f"{len(table)} published numbers checked: " + ", ".join(parts) + "."
        missed = table[table["status"] == "not reproduced"]
        if len(missed):
            headline += "\n\nNot reproduced: " + "; ".join(f"{r.claim_id} ({r.quantity}: published {r.published}, "
                                                           f"reproduced {r.reproduced or 'not computed'})"
                                                           for r in missed.itertuples()) + "."
    readings = "\n".join(f"- **{r.get('topic', '')}**: {r.get('reading', '')} {r.get('why', '')}"
                         for r in study.readings) or "No ambiguity recorded for this study."
    return ReproductionStep(table, headline, readings)
