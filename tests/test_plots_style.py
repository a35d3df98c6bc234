"""House style: applied on request, never leaked, and the package's figures do not depend on the caller's rcParams."""

import matplotlib as mpl
import numpy as np
import pytest

from mbcrt.report.figures import save_figure
from mbcrt.report.figures.balance import ps_overlap
from mbcrt.report.figures.style import (
    CONTROL_COLOR,
    PALETTE,
    STYLE,
    TREATED_COLOR,
    apply_style,
    group_colors,
    style_context,
)


def _overlap_bytes(folder):
    fig = ps_overlap([0.1, 0.2, 0.4, 0.5, 0.7, 0.9], [0, 0, 1, 0, 1, 1], matched=[1, 1, 1, 1, 1, 0], bins=5)
    png, svg = save_figure(fig, folder / "overlap")
    return png.read_bytes(), svg.read_bytes()


def test_figures_ignore_the_callers_rcparams(tmp_path):
    reference = _overlap_bytes(tmp_path / "default")
    with mpl.rc_context({"font.size": 20, "lines.linewidth": 5, "axes.spines.top": True,
                         "svg.hashsalt": None, "svg.fonttype": "none", "savefig.dpi": 72,
                         "text.antialiased": False, "legend.handlelength": 5, "hatch.linewidth": 3}):
        assert _overlap_bytes(tmp_path / "changed") == reference


def test_style_context_does_not_leak_and_apply_style_sets_it():
    with mpl.rc_context():
        before = mpl.rcParams["font.size"], mpl.rcParams["svg.fonttype"]
        with style_context():
            assert mpl.rcParams["svg.fonttype"] == "path"
        assert (mpl.rcParams["font.size"], mpl.rcParams["svg.fonttype"]) == before
        apply_style()
        assert mpl.rcParams["svg.hashsalt"] == STYLE["svg.hashsalt"]
        assert mpl.rcParams["font.sans-serif"][0] == "DejaVu Sans"
        assert not mpl.rcParams["axes.spines.top"] and not mpl.rcParams["axes.spines.right"]


def test_arm_colours_and_group_colours():
    # Okabe-Ito blue for control, vermillion for treated; both first in the default cycle.
    assert (CONTROL_COLOR, TREATED_COLOR) == ("#0072B2", "#D55E00") == PALETTE[:2]
    assert group_colors(["No RT", "RT"]) == {"No RT": CONTROL_COLOR, "RT": TREATED_COLOR}
    assert group_colors(["a", "b"], {"a": "k", "b": "r", "c": "g"}) == {"a": "k", "b": "r"}
    with pytest.raises(ValueError, match="no colour"):
        group_colors(["a", "z"], {"a": "k"})
    with pytest.raises(ValueError, match="colours"):
        group_colors(range(len(PALETTE) + 1))


def test_printed_text_is_readable():
    # Nothing under 8 pt once printed at the drawn size.
    sizes = [STYLE[k] for k in ("font.size", "axes.labelsize", "xtick.labelsize", "ytick.labelsize",
                                "legend.fontsize")]
    assert min(sizes) >= 8
    assert np.all(np.array(sizes) <= 12)


def test_chinese_labels_draw_as_text_where_a_cjk_font_is_installed():
    """A GB18030 export's labels (e.g. 阴性/阳性) draw with an installed CJK font, not as empty boxes;
    Latin text keeps the bundled DejaVu (the byte-identity tests cover that)."""
    import warnings

    from mbcrt.report.figures.style import _installed_fallbacks, new_figure, style_context

    if not _installed_fallbacks():
        pytest.skip("no CJK font on this machine (Debian: fonts-noto-cjk or fonts-droid-fallback)")
    with style_context(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = new_figure(2, 1)
        fig.text(0.1, 0.5, "ER 阴性 / 阳性")
        fig.canvas.draw()
    assert not [w for w in caught if "missing from font" in str(w.message).lower()
                or "glyph" in str(w.message).lower()]
