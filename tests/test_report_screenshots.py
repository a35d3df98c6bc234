"""Screenshots of the index and of each study report at 1280 px, for a person to look at.

Written to ``reports/screenshots/`` (git-ignored with the rest of ``reports/``), whole pages, from the
bundled studies' committed outputs. The test checks each is a real rendering: 1280 px wide, as tall
as the page, with text and figures drawn (not blank), and the synthetic-data banner drawn in its
colour at the top of a synthetic study's report. Skipped without chromium, except in CI.
"""

import numpy as np
import pytest

from browser import require, screenshot
from mbcrt import paths
from report_roots import BUNDLED, make_root

pytestmark = pytest.mark.integration

SHOTS = paths.PROJECT_ROOT / "reports" / "screenshots"
WIDTH = 1280


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    require("chromium")
    return make_root(tmp_path_factory.mktemp("shots"))


def pixels(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), dtype=float)


def test_the_index(root, tmp_path):
    shot = screenshot(root / "reports" / "index.html", SHOTS / "index.png", tmp_path)
    img = pixels(shot)
    assert img.shape[1] == WIDTH and img.shape[0] > 900
    dark = (img.mean(axis=2) < 160).mean()
    assert 0.005 < dark < 0.5, f"{dark:.2%} dark pixels"


@pytest.mark.parametrize("name", BUNDLED)
def test_each_study_report(root, name, tmp_path):
    shot = screenshot(root / "reports" / name / "report.html", SHOTS / f"{name}_report.png", tmp_path)
    img = pixels(shot)
    assert img.shape[1] == WIDTH and img.shape[0] > 5000   # the whole page, not one screen
    dark = (img.mean(axis=2) < 160).mean()
    assert 0.005 < dark < 0.5, f"{dark:.2%} dark pixels"
    # coloured figure pixels (Kaplan-Meier curves and bands) are drawn
    r, b = img[..., 0], img[..., 2]
    assert ((np.abs(r - b) > 60) & (img.max(axis=2) > 100)).mean() > 0.001
    # the data banner near the top: orange-bordered for synthetic data, green-bordered for real data
    top = img[:400]
    orange = ((np.abs(top[..., 0] - 230) < 20) & (np.abs(top[..., 1] - 126) < 25) & (top[..., 2] < 60)).sum()
    green = ((np.abs(top[..., 0] - 46) < 20) & (np.abs(top[..., 1] - 125) < 25) & (np.abs(top[..., 2] - 50) < 25)).sum()
    assert (orange > 500) == (name != "gbsg2") and (green > 500) == (name == "gbsg2")
