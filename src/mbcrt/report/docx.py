"""Publication tables as Word files (python-docx), byte-identical on every rerun.

The layout follows the HTML table: caption above, spanning headers as merged cells, row-group headings
across the table, levels indented, footnotes and source notes under it; journal rules (a line above and
below the header, one at the foot), no vertical lines.

python-docx stamps the document with the time and user and zipfile stamps each entry with the current
time: both are fixed here (core properties set to a constant, the package re-packed with a fixed
date and order), so a committed ``tables/<study>/docx/<table>.docx`` changes only when the table does.
"""

from __future__ import annotations

import datetime as _dt
import io
import zipfile
from pathlib import Path

#: Every timestamp in the file (core properties and zip entries).
FIXED_TIME = _dt.datetime(2000, 1, 1, 0, 0, 0)
AUTHOR = "mbcrt"
FONT_PT = 9
NOTE_PT = 8


def _border(cell, **edges) -> None:
    """Set cell borders, e.g. ``bottom="single"`` (8 eighths of a point, black)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tc_pr = cell._tc.get_or_add_tcPr()
    borders = tc_pr.find(qn("w:tcBorders"))
    if borders is None:
        borders = OxmlElement("w:tcBorders")
        tc_pr.append(borders)
    for edge, kind in edges.items():
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), kind)
        el.set(qn("w:sz"), "8")
        el.set(qn("w:space"), "0")
        el.set(qn("w:color"), "000000")
        borders.append(el)


def _write(cell, text: str, *, bold: bool = False, italic: bool = False, align: str = "center",
           indent: int = 0, colour: str | None = None) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt, RGBColor

    par = cell.paragraphs[0]
    par.alignment = {"left": WD_ALIGN_PARAGRAPH.LEFT, "center": WD_ALIGN_PARAGRAPH.CENTER,
                     "right": WD_ALIGN_PARAGRAPH.RIGHT}[align]
    par.paragraph_format.space_after = Pt(0)
    if indent:
        par.paragraph_format.left_indent = Pt(10 * indent)
    run = par.add_run(text)
    run.font.size = Pt(FONT_PT)
    run.bold, run.italic = bold or None, italic or None
    if colour:
        run.font.color.rgb = RGBColor.from_string(colour.lstrip("#").upper())
        run.bold = True


def _layout(doc, grid, table) -> None:
    """Column widths from the longest text of each column (the stub gets its room), a landscape page
    for wide tables, header rows repeated on every page."""
    from docx.enum.section import WD_ORIENT
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    need = []
    for j, col in enumerate(table.columns):
        words = max((len(w) for w in table.header(col).split()), default=1)
        longest = max([len(t) + 2 * table.indent[i] * (j == 0) for i, t in enumerate(table.body.iloc[:, j])],
                      default=0)
        need.append(max(words, min(longest, 60 if j == 0 else 40), 4))
    section = doc.sections[0]
    if sum(need) > 100:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = section.page_height, section.page_width
    usable = section.page_width - section.left_margin - section.right_margin
    total = sum(need)
    grid.autofit = False
    for j, n in enumerate(need):
        width = int(usable * n / total) // 635 * 635  # whole twentieths of a point: same bytes everywhere
        grid.columns[j].width = width
        for cell in grid.columns[j].cells:
            cell.width = width
    header_rows = 2 if table.spanners else 1
    for r in range(header_rows):
        tr_pr = grid.rows[r]._tr.get_or_add_trPr()
        el = OxmlElement("w:tblHeader")
        el.set(qn("w:val"), "true")
        tr_pr.append(el)


def build_document(table):
    """A python-docx Document holding ``table`` (a :class:`mbcrt.report.tables.PubTable`)."""
    from docx import Document
    from docx.shared import Pt

    doc = Document()
    props = doc.core_properties
    props.author = props.last_modified_by = AUTHOR
    props.created = props.modified = props.last_printed = FIXED_TIME
    props.revision = 1
    props.title = table.caption or table.name
    props.comments = props.subject = props.keywords = props.category = ""

    if table.caption:
        cap = doc.add_paragraph()
        run = cap.add_run(table.caption)
        run.bold = True
        run.font.size = Pt(FONT_PT + 1)

    columns = table.columns
    n_cols = len(columns)
    header_rows = 2 if table.spanners else 1
    body_rows = []
    previous = object()
    for i in range(len(table.body)):
        group = table.groups[i] if table.groups else None
        if table.groups and group != previous:
            body_rows.append(("group", group))
            previous = group
        body_rows.append(("row", i))
    grid = doc.add_table(rows=header_rows + len(body_rows), cols=n_cols)
    _layout(doc, grid, table)

    # Header: spanners merged across their columns; other headers merged down both header rows.
    spanned = {}
    for label, cols in table.spanners:
        idx = [columns.index(c) for c in cols]
        spanned.update({j: label for j in idx})
        cell = grid.cell(0, min(idx)).merge(grid.cell(0, max(idx))) if len(idx) > 1 else grid.cell(0, idx[0])
        _write(cell, label, bold=True)
        for j in idx:
            _border(grid.cell(0, j), bottom="single")
    for j, col in enumerate(columns):
        align = "left" if j == 0 else "center"
        if header_rows == 2 and j not in spanned:
            cell = grid.cell(0, j).merge(grid.cell(1, j))
        else:
            cell = grid.cell(header_rows - 1, j)
        _write(cell, table.header(col), bold=True, align=align)
    for j in range(n_cols):
        _border(grid.cell(0, j), top="single")
        _border(grid.cell(header_rows - 1, j), bottom="single")

    for k, (kind, what) in enumerate(body_rows):
        if kind == "group" and n_cols > 1:
            grid.cell(header_rows + k, 0).merge(grid.cell(header_rows + k, n_cols - 1))
    # python-docx finds a cell by walking the whole table: take the grid once, after the last merge.
    cells = grid._cells
    for k, (kind, what) in enumerate(body_rows):
        row = cells[(header_rows + k) * n_cols:(header_rows + k + 1) * n_cols]
        if kind == "group":
            _write(row[0], str(what or ""), bold=True, align="left")
            continue
        for j, col in enumerate(columns):
            _write(row[j], table.body.iat[what, j], align="left" if j == 0 else table.align.get(col, "center"),
                   indent=table.indent[what] if j == 0 else 0, colour=table.colours.get((what, col)))
    for cell in cells[-n_cols:]:
        _border(cell, bottom="single")

    for text in [*table.footnotes, *table.source_notes]:
        par = doc.add_paragraph()
        par.paragraph_format.space_after = Pt(0)
        run = par.add_run(text)
        run.font.size = Pt(NOTE_PT)
    return doc


def repack(data: bytes) -> bytes:
    """The zip ``data`` with every entry dated :data:`FIXED_TIME`, in the original order, deflated."""
    out = io.BytesIO()
    stamp = FIXED_TIME.timetuple()[:6]
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            entry.create_system = 0
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def docx_bytes(table) -> bytes:
    """The Word file of ``table`` as bytes (deterministic)."""
    buffer = io.BytesIO()
    build_document(table).save(buffer)
    return repack(buffer.getvalue())


def write_docx(table, path: Path) -> None:
    """Write ``table`` to ``path`` (a ``.docx``), creating its folder; unchanged bytes are not rewritten."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = docx_bytes(table)
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
