"""Shared output for the benchmark scripts: a printed table that is also written, with the
command that produced it and the date, into its own section of ``benchmarks/README.md``.

Each script owns one section, delimited by ``<!-- begin NAME -->`` / ``<!-- end NAME -->``;
running the script with ``--readme`` replaces that section (appending it when absent) and
leaves the rest of the file as it is. The figures in the README are therefore never typed.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import shlex
import sys
from pathlib import Path

import torch

README = Path(__file__).resolve().parent / "README.md"


def machine() -> str:
    """One line describing where the figures were measured."""
    return (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}"
    )


def table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table; floats are printed as given (format them before)."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _commit() -> str:
    """The checkout's commit (``+dirty`` with uncommitted changes), or "an unknown commit"."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "an unknown commit"
    return f"commit {head.stdout.strip()}" + ("+dirty" if dirty.stdout.strip() else "")


#: The checkout's state when the benchmark started (imported at start): what the figures were measured with.
STARTED_AT = _commit()


def update_readme(name: str, title: str, body: str, readme: Path = README) -> None:
    """Replace (or append) section ``name`` of ``benchmarks/README.md`` with ``body``."""
    cmd = "python " + " ".join(shlex.quote(a) for a in [f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- begin {name} -->\n## {title}\n\n"
        f"Measured {stamp} on {machine()} at {STARTED_AT} with:\n\n    {cmd}\n\n{body.strip()}\n<!-- end {name} -->"
    )
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    pat = re.compile(rf"<!-- begin {re.escape(name)} -->.*?<!-- end {re.escape(name)} -->", re.S)
    text = pat.sub(lambda _m: section, text) if pat.search(text) else text.rstrip() + "\n\n" + section + "\n"
    readme.write_text(text)
