"""Read a score table (CSV, TSV, XLSX) into a header and numbered string rows, for custom datasets.

CSV/TSV are read with the standard library; XLSX through pandas + openpyxl, imported only here
(``pip install 'biqa-bench[xlsx]'``). Every cell comes back as a stripped string ('' when empty), with
the row's position as the user sees it ("line 7" in a text file, "row 7" of a sheet) for error messages.
"""

from __future__ import annotations

import csv
from pathlib import Path

from bench.core.errors import DatasetError

TEXT_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
XLSX_SUFFIXES = (".xlsx", ".xlsm")
SUFFIXES = tuple(TEXT_SEPARATORS) + (".txt",) + XLSX_SUFFIXES


class Table:
    """A score table: ``header`` and ``rows`` = [(where, [cells...])], ``where`` e.g. 'line 7'."""

    def __init__(self, path: Path, header: list[str], rows: list[tuple[str, list[str]]], what: str):
        self.path, self.header, self.rows, self.what = path, header, rows, what

    def column(self, name: str, key: str, where: str) -> int:
        """Index of column ``name`` (exact, then ignoring case); an error naming the spec key otherwise.
        ``where``: the spec file and entry, e.g. '/data/datasets.toml [datasets.mine]'."""
        from bench.data.datasets.custom_spec import SpecError

        if name in self.header:
            return self.header.index(name)
        low = [h.lower() for h in self.header]
        if name.lower() in low:
            return low.index(name.lower())
        raise SpecError(
            f"{where} {key} = {name!r}, but {self.what} has no such column (columns: "
            f"{', '.join(repr(h) for h in self.header)}). Fix {key} or the table's header row."
        )


def read_table(path: Path, separator: str | None = None, sheet: str | int | None = None) -> Table:
    suffix = path.suffix.lower()
    if suffix in XLSX_SUFFIXES:
        return _read_xlsx(path, sheet)
    if sheet is not None:
        raise DatasetError(f"{path}: 'sheet' is for Excel files (.xlsx), not {suffix} tables. Remove it.")
    return _read_text(path, separator)


def _read_text(path: Path, separator: str | None) -> Table:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not a UTF-8 text table ({exc}). Save it as UTF-8 CSV, or as .xlsx.") from None
    sep = separator or TEXT_SEPARATORS.get(path.suffix.lower()) or _sniff(text, path)
    reader = csv.reader(text.splitlines(), delimiter=sep)
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise DatasetError(f"{path} is empty: it needs a header row naming the columns, then one row per image.")
    header = [h.strip() for h in header]
    rows = []
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        where = f"line {reader.line_num}"
        if len(fields) < len(header):
            raise DatasetError(
                f"{path}, {where}: {len(fields)} field(s) where the header has {len(header)} "
                f"({sep.join(fields)!r}). Is 'separator' right (now {sep!r})?"
            )
        rows.append((where, [f.strip() for f in fields]))
    return Table(path, header, rows, f"{path}")


def _sniff(text: str, path: Path) -> str:
    head = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(head, delimiters=",\t;").delimiter
    except csv.Error:
        raise DatasetError(
            f'{path}: cannot tell the column separator; set separator = "," (or "\\t", ";") in the dataset\'s spec.'
        ) from None


def _read_xlsx(path: Path, sheet: str | int | None) -> Table:
    try:
        import openpyxl  # noqa: F401 -- pandas needs it for .xlsx; say so before pandas does
    except ImportError:
        raise DatasetError(
            f"{path}: reading .xlsx needs openpyxl: pip install 'biqa-bench[xlsx]' (or save the sheet as CSV)."
        ) from None
    import pandas as pd

    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # a corrupt or mislabelled workbook: openpyxl raises many kinds
        raise DatasetError(f"{path} is not a readable Excel workbook ({type(exc).__name__}: {exc}).") from None
    with book:
        names = book.sheet_names
        if sheet is None:
            chosen = names[0]
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise DatasetError(
                    f"{path}: sheet = {sheet}, but the workbook has {len(names)} sheet(s) "
                    f"({', '.join(map(repr, names))}); sheets count from 0."
                )
            chosen = names[sheet]
        elif sheet in names:
            chosen = sheet
        else:
            raise DatasetError(f"{path}: sheet = {sheet!r} does not exist; sheets: {', '.join(map(repr, names))}.")
        frame = pd.read_excel(book, sheet_name=chosen, dtype=str, keep_default_na=False, header=0)
    header = [str(c).strip() for c in frame.columns]
    rows = []
    for i, values in enumerate(frame.itertuples(index=False), start=2):  # row 1 is the header
        cells = [_cell(v) for v in values]
        if any(cells):
            rows.append((f"row {i}", cells))
    return Table(path, header, rows, f"{path} (sheet {chosen!r})")


def _cell(value) -> str:
    text = "" if value is None else str(value).strip()
    return "" if text.lower() == "nan" else text
