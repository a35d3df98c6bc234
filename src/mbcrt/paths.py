"""Where everything lives. The only module that knows the project layout; nothing else hard-codes a path.

Outputs of a study go under an *output root*: the project root for a normal run, or a staging
folder while a run is in progress (moved into place only when the study succeeds).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _find_root() -> Path:
    env = os.environ.get("MBCRT_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "studies").is_dir():
            return parent
    return Path.cwd().resolve()


PROJECT_ROOT = _find_root()
STUDIES_DIR = PROJECT_ROOT / "studies"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
DATA_DIR = PROJECT_ROOT / "data"
SYNTHETIC_DIR = DATA_DIR / "synthetic"
PUBLIC_DIR = DATA_DIR / "public"
RAW_DIR = DATA_DIR / "raw"
REPORTS_DIR = PROJECT_ROOT / "reports"
STAGING_DIR = PROJECT_ROOT / ".staging"

OUTPUT_KINDS = ("build", "tables", "figures", "reports")


def resolve(path: str | os.PathLike, base: str | os.PathLike | None = None) -> Path:
    """Resolve ``path`` against ``base`` (default: the project root) unless it is absolute."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    return (Path(base) if base is not None else PROJECT_ROOT).joinpath(p).resolve()


def relative(path: str | os.PathLike) -> str:
    """``path`` relative to the project root when inside it (for messages and reports), else its name."""
    p = Path(path).resolve()
    try:
        return p.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return p.name


@dataclass(frozen=True)
class StudyPaths:
    """Output folders of one study under one output root.

    Parameters
    ----------
    study : str
        The study's name (its folder name under each output kind).
    root : Path
        The output root (project root, or a staging folder during a run).
    """

    study: str
    root: Path = PROJECT_ROOT

    @property
    def build(self) -> Path:
        """Patient-level intermediates (never committed)."""
        return self.root / "build" / self.study

    @property
    def tables(self) -> Path:
        return self.root / "tables" / self.study

    @property
    def figures(self) -> Path:
        return self.root / "figures" / self.study

    @property
    def reports(self) -> Path:
        return self.root / "reports" / self.study

    def ensure(self) -> "StudyPaths":
        """Create the four folders and return self."""
        for kind in OUTPUT_KINDS:
            getattr(self, kind).mkdir(parents=True, exist_ok=True)
        return self

    def table(self, name: str) -> Path:
        return self.tables / f"{name}.csv"
