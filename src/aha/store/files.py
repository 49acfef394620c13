"""Which files an import reads and how each is written: the globs expanded, the format from the extension, a CSV's
delimiter, and what is refused before any read (an archive, an unknown extension, UTF-16, a JSON array or
pretty-printed JSON); an empty CSV is read as 0 rows. store/formats.py reads the files these checks let through.
"""

from __future__ import annotations

import glob
import gzip
import shlex
from pathlib import Path
from typing import Literal

from aha.errors import UserError

Format = Literal["csv", "tsv", "jsonl", "parquet"]

EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
GZIP_OK: frozenset[Format] = frozenset({"csv", "tsv", "jsonl"})


class ImportRefused(UserError):
    """A file (or the whole command) that is refused before anything of it is written; the message names the fix."""


def resolve_paths(paths: list[str | Path] | tuple[str | Path, ...]) -> list[Path]:
    """Expand globs, check every file exists and has a known extension; keep the order given, drop repeats."""
    if not paths:
        raise ImportRefused("no files given. Pass one or more files or a quoted glob, e.g. aha import 'exports/*.csv'")
    found: list[Path] = []
    for item in paths:
        text = str(item)
        if glob.has_magic(text) and not Path(text).is_file():  # `export [1].csv` that exists is that file
            matches = sorted(glob.glob(text, recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file()]
            if not files:
                raise ImportRefused(f"{text}: the pattern matches no files. Check the directory and the extension.")
            found.extend(files)
        else:
            path = Path(text)
            if not path.exists():
                raise ImportRefused(f"{path}: no such file. Check the path (quote globs: 'exports/*.csv').")
            if path.is_dir():
                raise ImportRefused(f"{path}: is a directory. {folder_hint(path)}")
            found.append(path)
    unique = list(dict.fromkeys(found))
    for path in unique:
        detect_format(path)
    return unique


FOLDER_LOOK = 10_000  # entries read to suggest a glob for a folder


def folder_hint(folder: Path) -> str:
    """The glob for the files a folder holds, as an export unpacks them: Amplitude's zip is `123/*.json.gz` under
    the folder, and the hint said `'export/*.csv'` (a glob that matches nothing there)."""
    kinds: dict[tuple[str, bool], int] = {}
    for n, entry in enumerate(folder.rglob("*")):
        if n >= FOLDER_LOOK:
            break
        suffixes = [x.lower() for x in entry.suffixes]
        gz = suffixes[-1:] == [".gz"]
        ext = suffixes[-2] if gz and len(suffixes) >= 2 else (suffixes[-1] if suffixes and not gz else "")
        fmt = EXTENSIONS.get(ext)
        if entry.is_file() and fmt is not None and (not gz or fmt in GZIP_OK):
            key = (ext + (".gz" if gz else ""), entry.parent != folder)
            kinds[key] = kinds.get(key, 0) + 1
    if not kinds:
        return (f"Pass its files, e.g. '{folder}/*.csv'; it holds none aha reads "
                f"({', '.join([*EXTENSIONS, '.csv.gz', '.tsv.gz', '.jsonl.gz'])}).")
    (ext, nested), _ = max(kinds.items(), key=lambda kv: (kv[1], kv[0]))
    pattern = f"{folder}/**/*{ext}" if nested else f"{folder}/*{ext}"
    return f"Pass its files: aha import {shlex.quote(pattern)}"


def detect_format(path: Path) -> Format:
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    ext = suffixes[-2] if gz and len(suffixes) >= 2 else (suffixes[-1] if suffixes and not gz else "")
    fmt = EXTENSIONS.get(ext)
    known = ", ".join([*EXTENSIONS, ".csv.gz", ".tsv.gz", ".jsonl.gz"])
    if (suffixes and suffixes[-1] in (".zip", ".tar", ".tgz")) or suffixes[-2:] == [".tar", ".gz"]:
        name = shlex.quote(str(path))
        unpack = f"unzip {name} -d export" if suffixes[-1] == ".zip" else f"mkdir export && tar -xf {name} -C export"
        raise ImportRefused(f"{path}: an archive; aha reads the files inside it. Unpack it and import those: "
                            f"{unpack}, then aha import 'export/**/*.json.gz' (Amplitude's export is a zip of hourly "
                            ".json.gz files; map its columns as docs/import.md says).")
    if fmt is None or (gz and fmt not in GZIP_OK):
        shown = "".join(path.suffixes[-2:]) if gz else (path.suffix or "(none)")
        raise ImportRefused(f"{path}: unknown file type '{shown}'. Use one of {known} (rename the file if needed).")
    return fmt


def delimiter(path: Path, fmt: Format) -> str:
    """A `.tsv`'s tab; a `.csv`'s comma, unless its header line holds more semicolons (a spreadsheet saved in a
    locale whose decimal mark is the comma, such as German or French Excel) or tabs than commas outside quotes.
    Before, a `;` file was read as one column named after its whole header, and refused with a garbled message."""
    if fmt == "tsv":
        return "\t"
    head = first_line(path)
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for ch in head:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] > 0 else ","


def first_line(path: Path) -> str:
    try:
        with (gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")) as f:
            return f.readline(1 << 20).decode("utf-8", "replace")
    except (OSError, EOFError):
        return ""  # the read itself names what is wrong


def refuse_utf16(path: Path) -> None:
    """A text file that starts with UTF-16's byte-order mark (Excel's "Unicode Text", Windows PowerShell's `>`): its
    header was read as names full of NUL characters, and the refusal suggested `--map` them."""
    try:
        with (gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")) as f:
            start = f.read(2)
    except (OSError, EOFError):
        return  # the read itself names what is wrong
    if start in (b"\xff\xfe", b"\xfe\xff"):
        plain = path.with_suffix("") if path.suffix.lower() == ".gz" else path
        converted = shlex.quote(str(plain.with_name(plain.stem + "-utf8" + plain.suffix)))
        convert = (f"gunzip -c {shlex.quote(str(path))} | iconv -f UTF-16 -t UTF-8 > {converted}" if plain != path
                   else f"iconv -f UTF-16 -t UTF-8 {shlex.quote(str(path))} > {converted}")
        raise ImportRefused(f"{path}: is UTF-16 (it starts with UTF-16's byte-order mark, as Excel's \"Unicode Text\" "
                            f"and Windows PowerShell's > write it). Convert it to UTF-8 and import that: {convert}")


def no_header(path: Path) -> bool:
    """A CSV/TSV with nothing in it (0 bytes, a byte-order mark, blank): an export of a day without events, read as
    0 rows as an empty JSON lines file is. DuckDB would name its one column `column0` and the import refuse it."""
    return not first_line(path).lstrip("\ufeff").strip() and not _has_more(path)


def _has_more(path: Path) -> bool:
    try:
        with (gzip.open(path, "rt", encoding="utf-8", errors="replace") if path.suffix.lower() == ".gz"
              else path.open(encoding="utf-8", errors="replace")) as f:
            return any(line.lstrip("\ufeff").strip() for line in f)
    except (OSError, EOFError):
        return True


def check_json_lines(path: Path) -> None:
    """Refuse, naming the fix, a JSON file that is one array or pretty-printed objects (an "export as JSON"), which
    read line by line was `1 × JSON line is not an object` or `27 × line is not valid JSON`."""
    first = first_line(path).lstrip("\ufeff").strip()
    shape = ("one JSON array" if first.startswith("[") else
             "objects printed over several lines" if first == "{" else None)
    if shape is not None:
        raise ImportRefused(f"{path}: holds {shape}; aha reads JSON lines (one object per line). Convert it, e.g. "
                            f"`jq -c '{'.[]' if shape.startswith('one') else '.'}' {path.name} > events.jsonl`, and "
                            "import that.")
