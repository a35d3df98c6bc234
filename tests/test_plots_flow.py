"""Flow diagram: every count printed, boxes around their text, counts checked to add up."""

import warnings

import pandas as pd
import pytest
from matplotlib.patches import FancyBboxPatch

from mbcrt.errors import InputError, StatisticalWarning
from mbcrt.report.figures.flow import flow_diagram


@pytest.fixture
def attrition():
    return pd.DataFrame({
        "order": [2, 1, 3],  # sorted by order, not by row
        "criterion": ["missing follow-up or survival status recorded in the registry",
                      "no metastatic disease at diagnosis", "oligometastatic disease treated with surgery"],
        "excluded": [35, 1200, 12],
        "remaining": [1500, 1535, 1488],
    })


ARMS = pd.DataFrame({"arm": ["RT", "No RT"], "n": [207, 1281]})


def _boxed_texts(ax):
    return [t for t in ax.texts if t.get_text()]  # arrows are empty annotations


def _texts(fig):
    return [t.get_text() for t in _boxed_texts(fig.axes[0])]


def test_every_count_appears_in_its_box(attrition):
    texts = _texts(flow_diagram(attrition, arms=ARMS))
    assert texts[0] == "Records assessed (n = 2,735)"  # 1,535 + 1,200
    assert "n = 1,535" in texts and "n = 1,500" in texts
    assert "Analysis cohort (n = 1,488)" in texts
    excluded = [t for t in texts if t.startswith("Excluded")]
    assert [e.replace("\n", " ") for e in excluded] == [
        "Excluded: no metastatic disease at diagnosis (n = 1,200)",
        "Excluded: missing follow-up or survival status recorded in the registry (n = 35)",
        "Excluded: oligometastatic disease treated with surgery (n = 12)"]
    assert "RT\n(n = 207)" in texts and "No RT\n(n = 1,281)" in texts


def test_boxes_enclose_their_text_and_do_not_overlap(attrition):
    fig = flow_diagram(attrition, arms=ARMS, final_label="Patients analysed")
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = [p.get_window_extent(renderer) for p in ax.patches if isinstance(p, FancyBboxPatch)]
    texts = [t.get_window_extent(renderer) for t in _boxed_texts(ax)]
    assert len(boxes) == len(texts) == 1 + 3 + 3 + 2  # assessed, remaining x3, exclusions x3, arms x2
    for box, text in zip(boxes, texts):
        assert box.x0 < text.x0 and text.x1 < box.x1 and box.y0 < text.y0 and text.y1 < box.y1
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)
    figure_box = fig.bbox
    assert all(figure_box.x0 <= b.x0 and b.x1 <= figure_box.x1 and figure_box.y0 <= b.y0 and b.y1 <= figure_box.y1
               for b in boxes)
    # Top to bottom in chain order.
    chain = [b for b, t in zip(boxes, _boxed_texts(ax)) if not t.get_text().startswith("Excluded")][:4]
    assert [b.y0 for b in chain] == sorted((b.y0 for b in chain), reverse=True)


def test_counts_that_do_not_add_up_are_refused(attrition):
    wrong = attrition.copy()
    wrong.loc[wrong["order"] == 3, "remaining"] = 1490
    with pytest.raises(InputError, match="do not add up at 'oligometastatic"):
        flow_diagram(wrong)
    with pytest.raises(InputError, match="lacks column"):
        flow_diagram(attrition.drop(columns="excluded"))


def test_arms_not_summing_to_the_cohort_warn(attrition):
    with pytest.warns(StatisticalWarning, match="arms hold 1,487"):
        flow_diagram(attrition, arms=ARMS.assign(n=[206, 1281]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flow_diagram(attrition, arms=ARMS)
