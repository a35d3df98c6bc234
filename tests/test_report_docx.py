"""Publication tables as Word files (mbcrt.report.docx): same cells as the HTML, byte-identical reruns."""

import html
import io
import re
import zipfile

import docx
import pandas as pd
import pytest

from mbcrt.paths import PROJECT_ROOT, STUDIES_DIR
from mbcrt.report import tables
from mbcrt.report.docx import FIXED_TIME, docx_bytes
from mbcrt.run.context import StepContext, _read
from mbcrt.study.config import load_study


def _study(name):
    return load_study(STUDIES_DIR / name / "study.yaml")


def _read_committed(name):
    def read(table):
        path = PROJECT_ROOT / "tables" / name / f"{table}.csv"
        if not path.exists():
            raise FileNotFoundError(table)
        return _read(path)
    return read


def _html_body_rows(markup: str) -> list[list[str]]:
    """Text of each body row of the rendered HTML (row-group heading rows left out)."""
    body = markup.split("<tbody", 1)[1].split("</tbody>", 1)[0]
    rows = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S):
        if "gt_group_heading" in tr:
            continue
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, flags=re.S)
        rows.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
    return rows


def _docx_body_rows(document, table) -> list[list[str]]:
    grid = document.tables[0]
    header_rows = 2 if table.spanners else 1
    out = []
    for row in grid.rows[header_rows:]:
        texts = [c.text for c in row.cells]
        if table.groups and len(set(texts)) == 1 and texts[0] in set(table.groups):
            continue  # a row-group heading: one cell merged across the table
        out.append(texts)
    return out


CASES = [("gbsg2", "table1"), ("gbsg2", "cox_table"), ("gbsg2", "km_summary"), ("gbsg2", "subgroups"),
         ("her2_rt", "landmarks"), ("op_mdrt", "table1_all"), ("op_mdrt", "persistence"), ("op_mdrt", "reproduction")]


@pytest.mark.parametrize("name, table", CASES)
def test_docx_holds_the_cells_of_the_html_table(tmp_path, name, table):
    read = _read_committed(name)
    pub = tables.for_saved_table(table, read(table), _study(name), read)
    path = tmp_path / f"{table}.docx"
    pub.to_docx(path)
    document = docx.Document(str(path))
    assert document.paragraphs[0].text == pub.caption            # caption above the table
    notes = [p.text for p in document.paragraphs[1:]]
    assert notes == [*pub.footnotes, *pub.source_notes]           # notes under it
    in_html = _html_body_rows(pub.to_html())
    in_word = _docx_body_rows(document, pub)
    assert in_word == in_html == pub.body.to_numpy().tolist()
    header = [c.text for c in document.tables[0].rows[(2 if pub.spanners else 1) - 1].cells]
    assert header == [pub.header(c) for c in pub.columns]
    if pub.spanners:  # spanning headers are merged cells over their columns
        top = [c.text for c in document.tables[0].rows[0].cells]
        for label, cols in pub.spanners:
            assert [top[pub.columns.index(c)] for c in cols] == [label] * len(cols)


def test_indented_levels_in_word():
    read = _read_committed("gbsg2")
    pub = tables.for_saved_table("table1", read("table1"), _study("gbsg2"), read)
    document = docx.Document(io.BytesIO(docx_bytes(pub)))
    rows = document.tables[0].rows[2:]
    level = next(r for r in rows if r.cells[0].text == "Pre")
    variable = next(r for r in rows if r.cells[0].text == "Menopausal status, n (%)")
    assert level.cells[0].paragraphs[0].paragraph_format.left_indent > 0
    assert variable.cells[0].paragraphs[0].paragraph_format.left_indent is None


def test_two_writes_are_byte_identical_with_fixed_metadata(tmp_path):
    read = _read_committed("gbsg2")
    pub = tables.for_saved_table("cox_table", read("cox_table"), _study("gbsg2"), read)
    pub.to_docx(tmp_path / "a.docx")
    pub.to_docx(tmp_path / "b.docx")
    first = (tmp_path / "a.docx").read_bytes()
    assert first == (tmp_path / "b.docx").read_bytes() == docx_bytes(pub)
    with zipfile.ZipFile(io.BytesIO(first)) as z:
        assert {i.date_time for i in z.infolist()} == {FIXED_TIME.timetuple()[:6]}
        assert z.namelist()[0] == "[Content_Types].xml"
    props = docx.Document(str(tmp_path / "a.docx")).core_properties
    assert {d.replace(tzinfo=None) for d in (props.created, props.modified, props.last_printed)} == {FIXED_TIME}
    assert props.author == "mbcrt" and props.revision == 1


def test_status_colour_in_word():
    pub = tables.scorecard(_read_committed("op_mdrt")("reproduction"))
    document = docx.Document(io.BytesIO(docx_bytes(pub)))
    status = pub.columns.index("Status")
    run = document.tables[0].rows[1].cells[status].paragraphs[0].runs[0]
    assert str(run.font.color.rgb) == tables.STATUS_COLOURS["reproduced"].lstrip("#").upper() and run.bold


def test_context_writes_csv_unchanged_shows_publication_form_and_word(tmp_path, monkeypatch):
    from mbcrt import paths
    from mbcrt.run import context

    shown = []
    monkeypatch.setattr(context, "_html", shown.append)
    s = _study("gbsg2")
    ctx = StepContext(step="survival", study=s, paths=paths.StudyPaths(s.name, tmp_path).ensure())
    km = _read_committed("gbsg2")("km_summary")
    ctx.save_table(km, "km_summary", caption="Patients, events and median survival")
    written = pd.read_csv(tmp_path / "tables" / "gbsg2" / "km_summary.csv")
    assert written["event_pct"].iloc[0] == pytest.approx(43.58600583)  # full precision kept
    assert len(shown) == 1 and "Median, days (95% CI)" in shown[0] and "event_pct" not in shown[0]
    assert (tmp_path / "tables" / "gbsg2" / "docx" / "km_summary.docx").exists()
    ctx.save_table(_read_committed("gbsg2")("logrank"), "logrank", caption="Log-rank tests")
    assert not (tmp_path / "tables" / "gbsg2" / "docx" / "logrank.docx").exists()  # not a report table
    ctx.show_table(pd.DataFrame({"median_lower": [51.8439]}), caption="A table")
    assert "51.8" in shown[-1] and "51.8439" not in shown[-1] and "Median, 95% CI lower" in shown[-1]


def test_word_tables_of_a_synthetic_study_say_so():
    """A Word table travels alone into a manuscript: a synthetic study's carries the label, a real one's not."""
    from docx import Document

    from mbcrt.paths import PROJECT_ROOT

    def text(path):
        return "\n".join(p.text for p in Document(path).paragraphs)

    assert "SYNTHETIC DATA" in text(PROJECT_ROOT / "tables" / "her2_rt" / "docx" / "cox_table.docx")
    assert "SYNTHETIC DATA" in text(PROJECT_ROOT / "tables" / "op_mdrt" / "docx" / "persistence.docx")
    assert "SYNTHETIC" not in text(PROJECT_ROOT / "tables" / "gbsg2" / "docx" / "cox_table.docx")
