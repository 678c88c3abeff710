"""Study pages: ``results/<study>/README.md`` rendered from the study's hand-written ``page.md`` and its data files.

The text (question, setup, conclusions) is written by hand; every number, table, figure and file reference in it is
a directive that reads the study's files, so a README can only say what its data says. ``check`` re-renders every
page from the committed files (nothing is recomputed) and names each README that differs, and each page that
types a measured number by hand instead of reading it.

Directives, ``{{ kind args }}`` (arguments split like a shell line; paths relative to the study folder):

- ``value FILE KEY [col=value ...] [fmt=SPEC]``: one number. JSON: KEY is a dotted path (``final.style``,
  ``val_history.-1.cycle_l1``). CSV / JSONL: KEY is a column (JSONL rows flattened with dots) of the one row that
  the ``col=value`` filters select.
- ``text FILE KEY [col=value ...]``: a string (a weights source, a label), as ``value`` finds it.
- ``ratio A / B [fmt=SPEC]``: A and B as in ``value``; B may omit FILE to reuse A's.
- ``table FILE [cols=a,b,...] [col=value ...] [fmt=SPEC]``: a CSV / JSONL as a markdown table (default format:
  3 significant digits, thousands written out).
- ``include FILE``: a generated markdown file (a sweep's ``table.md``) as it is.
- ``figure FILE [ALT]``: an image, which must exist.
- ``file FILE``: a file name in backticks, which must exist.
- ``provenance [FILE]``: the nst-bench versions, commits, dates, torch and threads recorded in the study's
  ``metrics.json`` files, or in the ``provenance`` field of FILE's rows (a JSONL log of results whose run folders
  stay out of git, so that a clone renders the same page).

A page may begin with front matter (``---`` YAML ``---``): ``command`` (how to reproduce the study, shown first),
``stale`` (why its numbers no longer describe today's defaults; shown as a warning) and ``made`` (date, for data
written before provenance recorded one).
"""

from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from nst_bench.errors import UserError
from nst_bench.sweeps.store import RunsLog

DIRECTIVE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
# measured-looking numbers typed into prose: decimals, thousands separators, percentages, multipliers
BARE_NUMBER = re.compile(r"(?<![\w.$/-])(\d{1,3}(?:,\d{3})+|\d+\.\d+|\d+(?:\.\d+)?%|\d+(?:\.\d+)?x)(?![\w])")
CODE = re.compile(r"```.*?```|`[^`\n]*`|\]\([^)]*\)", re.S)


@dataclass
class Page:
    folder: Path
    meta: dict[str, Any]
    body: str

    @classmethod
    def read(cls, folder: str | Path) -> Page:
        folder = Path(folder)
        path = folder / "page.md"
        if not path.is_file():
            raise UserError(f"{folder} has no page.md: write the study's text there (see nst_bench/pages.py)")
        text = path.read_text()
        meta: dict[str, Any] = {}
        if text.startswith("---\n"):
            head, _, text = text[4:].partition("\n---\n")
            try:
                meta = yaml.safe_load(head) or {}
            except yaml.YAMLError as e:
                where = getattr(e, "problem_mark", None)
                line = f" line {where.line + 2}" if where else ""
                raise UserError(f"{path}{line}: the front matter is not valid YAML ({getattr(e, 'problem', e)}); "
                                "quote a value that holds ': '") from None
        return cls(folder, meta, text)


class PageError(UserError):
    """A directive that cannot be filled from the study's files."""


def _cell(value: Any, wanted: str) -> bool:
    if str(value) == wanted:
        return True
    try:
        return math.isclose(float(value), float(wanted))
    except (TypeError, ValueError):
        return False


def _rows(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".jsonl":
        return pd.json_normalize([json.loads(line) for line in path.read_text().splitlines() if line.strip()])
    raise PageError(f"{path}: tables come from .csv or .jsonl files")


def _select(frame: pd.DataFrame, filters: dict[str, str], where: str) -> pd.DataFrame:
    for col, wanted in filters.items():
        if col not in frame.columns:
            raise PageError(f"{where}: no column {col!r}; columns: {', '.join(map(str, frame.columns))}")
        frame = frame[[_cell(v, wanted) for v in frame[col]]]
    return frame


def _readable(v: float) -> str:
    if pd.isna(v):
        return ""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _json_path(data: Any, key: str, where: str) -> Any:
    for part in key.split("."):
        try:
            data = data[int(part)] if isinstance(data, list) else data[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise PageError(f"{where}: no {key!r} (stopped at {part!r})") from None
    return data


class Renderer:
    """Fills one page's directives from the files of its folder."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def path(self, name: str) -> Path:
        path = self.page.folder / name
        if not path.exists():
            raise PageError(f"{self.page.folder}/page.md names {name}, which does not exist")
        return path

    def lookup(self, tokens: list[str], file: str | None = None) -> tuple[Any, str, str]:
        """(value, file, where) of a ``FILE KEY [col=value ...]`` reference; FILE may be left out after a first."""
        if file is None or (tokens and Path(tokens[0]).suffix in (".json", ".csv", ".jsonl")):
            file, tokens = tokens[0], tokens[1:]
        if not tokens:
            raise PageError(f"{self.page.folder}/page.md: a value needs FILE KEY, got only {file}")
        key, filters = tokens[0], dict(t.split("=", 1) for t in tokens[1:])
        path, where = self.path(file), f"{self.page.folder / file}"
        if path.suffix == ".json":
            return _json_path(json.loads(path.read_text()), key, where), file, f"{where}: {key}"
        rows = _select(_rows(path), filters, where)
        if key not in rows.columns:
            raise PageError(f"{where}: no column {key!r}")
        if len(rows) != 1:
            raise PageError(f"{where}: {len(rows)} rows match {filters} (need exactly one for {key})")
        return rows[key].iloc[0], file, f"{where}: {key}"

    def number(self, tokens: list[str], file: str | None = None) -> tuple[float, str]:
        value, file, where = self.lookup(tokens, file)
        try:
            return float(value), file
        except (TypeError, ValueError):
            raise PageError(f"{where} is {value!r}, not a number") from None

    def directive(self, text: str) -> str:
        tokens = shlex.split(text)
        kind, args = tokens[0], tokens[1:]
        given = next((a[4:] for a in args if a.startswith("fmt=")), None)
        fmt = given or ".4g"
        args = [a for a in args if not a.startswith("fmt=")]
        if kind == "value":
            return format(self.number(args)[0], fmt)
        if kind == "text":
            return str(self.lookup(args)[0])
        if kind == "ratio":
            if "/" not in args:
                raise PageError(f"ratio needs A / B, got {text!r}")
            cut = args.index("/")
            top, file = self.number(args[:cut])
            bottom, _ = self.number(args[cut + 1:], file)
            return format(top / bottom, fmt)
        if kind == "table":
            return self.table(args, given or "auto")
        if kind == "include":
            return self.path(args[0]).read_text().strip()
        if kind == "figure":
            return f"![{' '.join(args[1:]) or Path(args[0]).stem}]({self.path(args[0]).relative_to(self.page.folder)})"
        if kind == "file":
            self.path(args[0])
            return f"`{args[0]}`"
        if kind == "provenance":
            return self.provenance(args[0] if args else None)
        raise PageError(f"{self.page.folder}/page.md: unknown directive {kind!r} "
                        "(value, text, ratio, table, include, figure, file, provenance)")

    def table(self, args: list[str], fmt: str) -> str:
        opts = dict(a.split("=", 1) for a in args[1:])
        path = self.path(args[0])
        cols = opts.pop("cols", None)
        rows = _select(_rows(path), opts, str(path))
        if cols:
            missing = [c for c in cols.split(",") if c not in rows.columns]
            if missing:
                raise PageError(f"{path}: no column(s) {', '.join(missing)}")
            rows = rows[cols.split(",")]
        if fmt == "auto":  # 3 significant digits, thousands written out: 552, 3,610, 10,768, 0.621
            rows = rows.apply(lambda col: col.map(_readable) if pd.api.types.is_float_dtype(col) else col)
            return rows.to_markdown(index=False, disable_numparse=True)
        return rows.to_markdown(index=False, floatfmt=fmt)

    def provenance(self, log: str | None = None) -> str:
        """Who made the study: from its ``metrics.json`` files, or from the rows of ``log``."""
        records = self.provenance_records(log)
        seen: dict[tuple, int] = {}
        for p in filter(None, records):
            key = (p.get("nst_bench"), (p.get("git_commit") or "")[:7], p.get("date"), p.get("torch"),
                   p.get("threads"), p.get("dtype"))
            seen[key] = seen.get(key, 0) + 1
        lines = [f"- {n} run(s): nst-bench {v} at commit `{c or 'unknown'}`{f' on {d}' if d else ''}, torch {t}, "
                 f"{th} threads, {dt}" for (v, c, d, t, th, dt), n in seen.items()]
        unrecorded = sum(not p for p in records)
        if unrecorded:
            lines.append(f"- {unrecorded} {'row(s) of ' + log if log else 'run(s)'} written before provenance was "
                         "recorded")
        return "Made by:\n" + "\n".join(lines) if lines else ""

    def provenance_records(self, log: str | None) -> list[dict[str, Any] | None]:
        if log is None:
            return [json.loads(p.read_text()).get("provenance") for p in sorted(self.page.folder.rglob("metrics.json"))]
        return [row.get("provenance") for row in RunsLog(self.path(log)).read()]  # a torn line is skipped

    def render(self) -> str:
        meta, out = self.page.meta, []
        if meta.get("command"):
            out.append(f"Reproduce: `{meta['command']}`" + (f"; made {meta['made']}" if meta.get("made") else ""))
        if meta.get("stale"):
            out.append(f"> **Stale.** {meta['stale']}")
        header = "\n\n".join(out)
        body = DIRECTIVE.sub(lambda m: self.directive(m.group(1)), self.page.body)
        title, _, rest = body.partition("\n")
        text = f"{title}\n\n{header}\n{rest}" if header else body
        note = "<!-- generated by `nst-bench report` from page.md and this folder's data: edit page.md -->\n"
        return note + re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"


def bare_numbers(body: str) -> list[str]:
    """Measured-looking numbers typed into a page's prose (outside directives and code) instead of read."""
    prose = CODE.sub("", DIRECTIVE.sub("", body))
    return [m.group(1) for m in BARE_NUMBER.finditer(prose)]


def render(folder: str | Path, write: bool = True) -> str:
    """README.md of one study folder; written unless ``write`` is false."""
    page = Page.read(folder)
    text = Renderer(page).render()
    if write:
        (page.folder / "README.md").write_text(text)
    return text


def study_folders(root: str | Path = "results") -> list[Path]:
    """Every folder of ``root`` with a README.md or a page.md (a README without its page fails the check)."""
    return sorted(p for p in Path(root).iterdir() if (p / "README.md").is_file() or (p / "page.md").is_file())


def check(folders: list[Path]) -> list[str]:
    """One line per problem: a folder without page.md, a README that its data does not produce, a typed number."""
    problems = []
    for folder in folders:
        readme = folder / "README.md"
        try:
            page = Page.read(folder)
            text = Renderer(page).render()
        except UserError as e:
            problems.append(str(e))
            continue
        typed = bare_numbers(page.body)
        if typed:
            problems.append(f"{folder}/page.md types numbers by hand ({', '.join(typed[:5])}): read them from the "
                            "data with {{ value ... }}, or put a setting in backticks")
        if not readme.is_file() or readme.read_text() != text:
            old = readme.read_text().splitlines() if readme.is_file() else []
            new = text.splitlines()
            line = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
            problems.append(f"{readme} differs from its data at line {line + 1}: run nst-bench report {folder}")
    return problems
