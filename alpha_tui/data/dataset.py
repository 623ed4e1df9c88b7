"""The users' dataset layout: ``<dir>/description.csv`` plus ``<dir>/cif/<id>.cif``.

``--data`` names the folder or the CSV itself. The CSV has a header row and rows
``id, formula, target, text, ...``; exports differ in column order and names (JARVIS
sets have five columns, Materials-Project-style sets move the text), so columns are
found by header name first and by content second (the text column is the long prose
one, the target the numeric one), never by one fixed position.

Every row that cannot be used is kept as a ``Problem`` with its CSV row number and a
reason the user can act on; bad rows are never fatal and never dropped silently. Only
"nothing usable at all" is an error.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from alpha_tui.data.graph_cache import GraphCache
from alpha_tui.data.parse_pool import MIN_POOL_ITEMS, Parsed, iter_parsed
from alpha_tui.errors import UserError
from alpha_tui.problems import Problem

if TYPE_CHECKING:
    from jarvis.core.atoms import Atoms

DESCRIPTION_CSV = "description.csv"
STRUCTURE_DIR = "cif"
DEFAULT_MAX_ATOMS = 400  # the users' scripts skipped larger crystals
_SAMPLE_ROWS = 50
_STRUCTURE_SUFFIXES = (".cif", ".CIF", ".vasp", ".poscar", ".POSCAR")
_STRUCTURE_NAMES = ("POSCAR", "CONTCAR")

_ID_NAMES = {
    "id", "jid", "jarvis_id", "material_id", "materials_id", "mp_id", "mpid", "task_id",
    "mat_id", "crystal_id", "structure_id", "sample_id", "cif", "cif_id", "file",
    "filename", "name", "uid",
}  # fmt: skip
_FORMULA_NAMES = {
    "formula", "pretty_formula", "formula_pretty", "reduced_formula", "full_formula",
    "chemical_formula", "formula_sum", "composition", "reduced_composition",
}  # fmt: skip
_TARGET_NAMES = {"target", "value", "label", "y", "property", "prop", "target_value"}
_TEXT_NAMES = {
    "text", "description", "desc", "robocrys", "robocrystallographer", "caption",
    "sentence", "prompt", "summary", "text_description", "structure_description",
}  # fmt: skip


@dataclass
class CrystalRecord:
    id: str
    formula: str
    target: float
    text: str
    path: Path
    atoms: Atoms | None  # primitive cell as the training pipeline read it; None: graph cached
    n_atoms: int
    # graph-cache key of the file: where its cached graph is (atoms None) or where a graph
    # built later is stored. The graph itself is never held here (graph_source.py).
    cache_key: str | None = None


@dataclass(frozen=True)
class ColumnMap:
    """0-based CSV column of each field (formula may be absent)."""

    id: int
    formula: int | None
    target: int
    text: int


@dataclass
class Dataset:
    root: Path
    records: list[CrystalRecord]
    problems: list[Problem]
    csv_path: Path | None = None
    columns: ColumnMap | None = None
    rows_read: int = 0  # data rows examined (fewer than the file holds when limit stopped early)
    rows_total: int = 0

    def __len__(self) -> int:
        return len(self.records)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]


def resolve_data_path(path: str | Path) -> tuple[Path, Path]:
    """(root folder, CSV path) for a ``--data`` argument, or a UserError saying what to give."""
    given = Path(path).expanduser()
    hint = f"give the folder holding {STRUCTURE_DIR}/ and {DESCRIPTION_CSV}, or the CSV file"
    if not given.exists():
        raise UserError(f"--data {given}: no such file or folder; {hint}")
    if given.is_dir():
        csv_path = given / DESCRIPTION_CSV
        if not csv_path.is_file():
            others = sorted(p.name for p in given.glob("*.csv"))
            found = f" (found: {', '.join(others[:3])})" if others else ""
            raise UserError(f"no {DESCRIPTION_CSV} in {given}{found}; {hint}")
        return given, csv_path
    if not given.is_file():  # a FIFO would block the read, /dev/zero never end it
        raise UserError(f"--data {given}: not a regular file or folder; {hint}")
    return given.parent, given


def read_dataset(
    path: str | Path,
    *,
    max_atoms: int = DEFAULT_MAX_ATOMS,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    graph_cache: GraphCache | None = None,
    workers: int = 1,
) -> Dataset:
    """Usable crystals of a dataset folder or CSV, with a Problem for every skipped row.

    With a ``graph_cache``, a structure whose graph is cached (same file bytes) is not
    parsed again: parsing CIFs with spglib's primitive reduction is the slow part of a
    second open, and the cached graph knows its atom count for ``max_atoms``. Only that
    count is read here (one member of the entry), never the graph: 10^5 graphs held
    for the whole run would be gigabytes, so the capture streams them per batch.
    ``workers`` > 1 parses in that many processes (``parse_pool``): same records, same
    order, and a structure that crashes its parser becomes a skipped row.
    """
    root, csv_path = resolve_data_path(path)
    header, rows = _read_csv(csv_path)
    if not rows:
        raise UserError(f"{csv_path} has no data rows below its header; add crystals to it")
    columns = map_columns(header, [r for _, r in rows[:_SAMPLE_ROWS]])
    if columns is None:
        shown = ", ".join(header[:6]) if header else "none"
        raise UserError(
            f"cannot find id, target and text columns in {csv_path} (header: {shown}); "
            "expected a header row like id,formula,target,text"
        )
    structure_dir = root / STRUCTURE_DIR
    search_dirs = [structure_dir] if structure_dir.is_dir() else [root]

    records: list[CrystalRecord] = []
    problems: list[Problem] = []
    first_row_of: dict[str, int] = {}
    total = len(rows)
    examined = 0
    planned: deque[tuple[int, _Plan]] = deque()

    def to_parse() -> Iterator[Path | None]:
        """Each row's structure path when it needs parsing (None: answered or cached)."""
        for line, row in rows:
            plan = _plan_row(row, columns, search_dirs, root, max_atoms, graph_cache)
            planned.append((line, plan))
            yield plan.path if isinstance(plan, _Pending) else None

    if limit is not None and limit < MIN_POOL_ITEMS:
        workers = 1  # a few crystals: starting workers would cost more than they save
    notes: list[str] = []
    with contextlib.closing(iter_parsed(to_parse(), workers, notes=notes)) as parsed_rows:
        while limit is None or len(records) < limit:  # checked first: no parse past it
            parsed = next(parsed_rows, None)
            if parsed is None:
                break
            line, plan = planned.popleft()
            examined += 1
            if isinstance(plan, _Pending):
                record, reason, rid = _finish_row(plan, parsed, max_atoms)
            else:
                record, reason, rid = plan
            if record is not None and record.id in first_row_of:
                record, reason = None, f"duplicate id (first at row {first_row_of[record.id]})"
            if record is None:
                problems.append(Problem("skipped-row", rid, f"row {line}: {reason}"))
            else:
                first_row_of[record.id] = line
                records.append(record)
            if progress is not None:
                progress(examined, total)

    problems += [Problem("parse-workers", "", note) for note in notes]
    if not records:
        first = problems[0].reason if problems else "no rows"
        where = "" if structure_dir.is_dir() else f"; no {STRUCTURE_DIR}/ folder in {root}"
        skipped = f"{len(problems)} rows skipped (first: {first})"
        raise UserError(f"no usable crystals in {csv_path}: {skipped}{where}")
    return Dataset(
        root=root,
        records=records,
        problems=problems,
        csv_path=csv_path,
        columns=columns,
        rows_read=examined,
        rows_total=total,
    )


# --- CSV ----------------------------------------------------------------------------


def _allow_fields_of(length: int) -> None:
    """Let the csv module read a field as long as the whole file.

    Its default limit (131072 characters) fails the entire data set on one very long
    description; no field can be longer than the file, and the tokenizer truncates the
    text at 512 tokens anyway. The limit is process-wide, so it is only ever raised.
    """
    if length >= csv.field_size_limit():
        csv.field_size_limit(length + 1)


def _read_csv(csv_path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(first line number, fields)]) with blank lines dropped.

    Line numbers are the user's "row N": the header is row 1 in a spreadsheet too.
    """
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = csv_path.read_text(encoding="latin-1")
    except OSError as exc:
        raise UserError(f"cannot read {csv_path}: {exc.strerror or exc}") from exc
    _allow_fields_of(len(text))
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    try:
        rows = csv_rows(text, delimiter)
    except csv.Error as exc:
        raise UserError(f"{csv_path} is not a readable CSV ({exc})") from exc
    if not rows:
        raise UserError(f"{csv_path} is empty; expected a header row and one row per crystal")
    line, first = rows[0]
    if _looks_like_header(first):
        return first, rows[1:]
    return [], rows


UNTERMINATED = "\x00unterminated-quote"  # marker field: the row is listed as a problem


def csv_rows(text: str, delimiter: str = ",") -> list[tuple[int, list[str]]]:
    """[(first line number, fields)] of every non-blank record, none swallowed.

    A quote that is never closed makes the csv module read every following line into
    one field. Such a record (odd number of quote characters up to the end) is returned
    as ``[UNTERMINATED]`` for its first line and the lines after it are read again on
    their own, so every data line ends up loaded or listed.
    """
    lines = io.StringIO(text, newline="").readlines()  # the lines csv.reader counts
    rows: list[tuple[int, list[str]]] = []
    offset = 0
    while offset < len(lines):
        chunk = "".join(lines[offset:])
        reader = csv.reader(io.StringIO(chunk, newline=""), delimiter=delimiter)
        end = 0
        restart = None
        for fields in reader:
            start, end = end + 1, reader.line_num  # a quoted text may span several lines
            spanned = lines[offset + start - 1 : offset + end]
            if end > start and end == len(lines) - offset and "".join(spanned).count('"') % 2:
                rows.append((offset + start, [UNTERMINATED]))
                restart = offset + start
                break
            if any(f.strip() for f in fields):
                rows.append((offset + start, [f.strip() for f in fields]))
        if restart is None:
            break
        offset = restart
    return rows


def _looks_like_header(fields: Sequence[str]) -> bool:
    """A data row always carries a numeric target; a header row has no number at all."""
    return not any(_parse_float(f) is not None for f in fields)


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def map_columns(header: Sequence[str], sample: Sequence[Sequence[str]]) -> ColumnMap | None:
    """Columns by header name, then by content: text = longest prose, target = numeric."""
    width = max([len(header)] + [len(r) for r in sample]) if (header or sample) else 0
    names = [_normalise(h) for h in header]
    found: dict[str, int] = {}

    def claim(role: str, test: Callable[[str], bool]) -> None:
        for i, n in enumerate(names):
            if role not in found and i not in found.values() and test(n):
                found[role] = i

    claim("id", lambda n: n in _ID_NAMES)
    claim("formula", lambda n: n in _FORMULA_NAMES)
    claim("text", lambda n: n in _TEXT_NAMES)
    claim("target", lambda n: n in _TARGET_NAMES)
    claim("text", lambda n: "desc" in n or "text" in n)
    claim("id", lambda n: n.endswith("_id"))
    claim("formula", lambda n: "formula" in n)

    free = [i for i in range(width) if i not in found.values()]
    if "id" not in found and 0 in free:
        found["id"] = 0
        free.remove(0)
    if "target" not in found:
        # mostly numbers (a few bad targets must not hide the column); position 2 first
        share = {i: _numeric_share(sample, i) for i in free}
        numeric = [i for i in free if share[i] >= 0.5]
        if numeric:
            found["target"] = 2 if 2 in numeric else max(numeric, key=lambda i: (share[i], -i))
            free.remove(found["target"])
    if "text" not in found:
        prose = [i for i in free if _mean_length(sample, i) > 0]
        if prose:
            found["text"] = max(prose, key=lambda i: (_mean_length(sample, i), -i))
            free.remove(found["text"])
    if "formula" not in found and 1 in free and _numeric_share(sample, 1) < 0.5:
        found["formula"] = 1
    if not {"id", "target", "text"} <= found.keys():
        return None
    return ColumnMap(
        id=found["id"],
        formula=found.get("formula"),
        target=found["target"],
        text=found["text"],
    )


def _numeric_share(sample: Sequence[Sequence[str]], col: int) -> float:
    values = [r[col] for r in sample if col < len(r) and r[col]]
    if not values:
        return 0.0
    return sum(_parse_float(v) is not None for v in values) / len(values)


def _mean_length(sample: Sequence[Sequence[str]], col: int) -> float:
    values = [r[col] for r in sample if col < len(r)]
    return sum(len(v) for v in values) / len(values) if values else 0.0


def _parse_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# --- rows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pending:
    """A row whose structure file still has to be parsed."""

    rid: str
    formula: str
    target: float
    text: str
    path: Path
    cache_key: str | None


_Answer = tuple[CrystalRecord | None, str, str]  # (record, "", id) or (None, reason, id)
_Plan = _Pending | _Answer


def _plan_row(
    row: Sequence[str],
    columns: ColumnMap,
    search_dirs: Sequence[Path],
    root: Path,
    max_atoms: int,
    graph_cache: GraphCache | None = None,
) -> _Pending | _Answer:
    """Everything about a row that needs no parsing: its answer, or what to parse."""
    needed = max(
        c for c in (columns.id, columns.formula, columns.target, columns.text) if c is not None
    )
    if row == [UNTERMINATED]:
        return None, "a quote opened on this row is never closed; fix the quoting", ""
    rid = row[columns.id] if columns.id < len(row) else ""
    if len(row) <= needed:
        return None, f"{len(row)} fields, expected at least {needed + 1}", rid
    if not rid:
        return None, "empty id", rid
    raw_target = row[columns.target]
    target = _parse_float(raw_target)
    if target is None:
        return None, f"target {raw_target!r} is not a number", rid
    if "/" in rid or "\\" in rid or rid in (".", ".."):
        return None, f"id {rid!r} is not a file name", rid

    path = find_structure(rid, search_dirs)
    if path is None:
        expected = search_dirs[0] / f"{rid}.cif"
        return None, f"CIF missing ({_relative(expected, root)})", rid
    key, count = graph_cache.lookup_count(path) if graph_cache is not None else (None, None)
    formula = row[columns.formula] if columns.formula is not None else ""
    pending = _Pending(rid, formula, target, row[columns.text], path, key)
    if count is None:
        return pending
    return _record(pending, None, count, max_atoms)


def _finish_row(pending: _Pending, parsed: Parsed, max_atoms: int) -> _Answer:
    """The row's answer once its structure is parsed."""
    if parsed.atoms is None:
        return None, parsed.reason, pending.rid
    return _record(pending, parsed.atoms, int(parsed.atoms.num_atoms), max_atoms)


def _record(
    pending: _Pending,
    atoms: Atoms | None,
    n_atoms: int,
    max_atoms: int,
) -> _Answer:
    if n_atoms > max_atoms:
        return None, f"{n_atoms} atoms > --max-atoms {max_atoms}", pending.rid
    record = CrystalRecord(
        id=pending.rid,
        formula=pending.formula,
        target=pending.target,
        text=pending.text,
        path=pending.path,
        atoms=atoms,
        n_atoms=n_atoms,
        cache_key=pending.cache_key,
    )
    return record, "", pending.rid


def find_structure(rid: str, search_dirs: Sequence[Path]) -> Path | None:
    """``<id>.cif`` first, then POSCAR-like files; an id may already carry its suffix."""
    for folder in search_dirs:
        candidates = [folder / rid] if Path(rid).suffix in _STRUCTURE_SUFFIXES else []
        candidates += [folder / f"{rid}{suffix}" for suffix in _STRUCTURE_SUFFIXES]
        candidates += [folder / rid / name for name in _STRUCTURE_NAMES]
        candidates += [folder / f"{name}-{rid}" for name in _STRUCTURE_NAMES]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
    return None


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
