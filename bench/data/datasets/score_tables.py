"""Read a score table (CSV, TSV, XLSX) into a header and numbered string rows, for custom datasets.

CSV/TSV are read with the standard library; XLSX through pandas + openpyxl, imported only here
(``pip install 'biqa-bench[xlsx]'``). Every cell comes back as a stripped string ('' when empty), with
the row's position as the user sees it ("line 7" in a text file, "row 7" of a sheet) for error messages.
"""

from __future__ import annotations

import csv
import re
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
    _check_header(header, f"{path}")
    rows = []
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        where = f"line {reader.line_num}"
        if len(fields) != len(header):  # fewer: a cell shifted; more: a value split, e.g. a decimal comma
            raise DatasetError(
                f"{path}, {where}: {len(fields)} field(s) where the header has {len(header)} columns "
                f"({sep.join(fields)!r}). {_likely_cause(fields, header, sep)}"
            )
        rows.append((where, [f.strip() for f in fields]))
    return Table(path, header, rows, f"{path}")


def _check_header(header: list[str], what: str) -> None:
    """Two columns of one name: which one a spec key means would depend on the reader (refused)."""
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if not name:
            continue
        if name.lower() in seen:
            first = seen[name.lower()]
            raise DatasetError(
                f"{what}: columns {first + 1} and {i + 1} are both named {header[first]!r}"
                + ("" if header[first] == name else f" / {name!r} (names are matched ignoring case)")
                + ". Rename one in the header row: each column needs its own name."
            )
        seen[name.lower()] = i


_NUMBER = re.compile(r"^[+-]?\d+$")
_DIGITS = re.compile(r"^\d+$")


def _likely_cause(fields: list[str], header: list[str], sep: str) -> str:
    """The likeliest reason a row's field count differs from the header's, in words."""
    if len(fields) > len(header) and sep == ",":
        pairs = [
            f"{a.strip()},{b.strip()}"
            for a, b in zip(fields, fields[1:])
            if _NUMBER.match(a.strip()) and _DIGITS.match(b.strip())
        ]
        if pairs:
            return (
                f"A decimal comma? {pairs[0]!r} reads as two fields with separator ','. Write the number with a "
                f'point (e.g. {pairs[0].replace(",", ".")}), quote it ("{pairs[0]}"), or save the table with '
                "separator ';' and set separator = \";\" in the spec (numbers with a comma are then read as such)."
            )
    if len(fields) > len(header):
        return (
            f"A value holding the separator {sep!r}? Quote such values, or check 'separator' in the spec (now {sep!r})."
        )
    return f"Is 'separator' right (now {sep!r}), and does every row have a value (or an empty field) per column?"


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
        # header=None: the header row as written (pandas renames a repeated column name 'sd' to 'sd.1')
        frame = pd.read_excel(book, sheet_name=chosen, dtype=str, keep_default_na=False, header=None)
    what = f"{path} (sheet {chosen!r})"
    lines = list(frame.itertuples(index=False))
    header = [_cell(c) for c in lines[0]] if lines else []
    if not any(header):
        raise DatasetError(f"{what} is empty: it needs a header row naming the columns, then one row per image.")
    _check_header(header, what)
    rows = []
    for i, values in enumerate(lines[1:], start=2):  # row 1 is the header
        cells = [_cell(v) for v in values]
        if any(cells):
            rows.append((f"row {i}", cells))
    return Table(path, header, rows, what)


def _cell(value) -> str:
    text = "" if value is None else str(value).strip()
    return "" if text.lower() == "nan" else text
