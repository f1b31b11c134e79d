"""var/bench.json: one entry per benchmark figure, merged by name.

Each benchmark writes only its own figures; figures other benchmarks wrote stay as they are. An
entry is a dict with at least ``name``, ``value`` and ``unit``; optionally ``baseline`` (the name
of the figure it is compared with), ``ratio`` (value / baseline value) and ``run`` (when, where,
how big).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

Figure = dict[str, Any]
REQUIRED = ("name", "value", "unit")


def read_figures(path: Path) -> list[Figure]:
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8") or "[]")
    if not isinstance(data, list) or not all(isinstance(e, dict) and "name" in e for e in data):
        raise ValueError(f"{path} is not a list of named figures; not overwriting it")
    return data


def merge_figures(path: Path, figures: Iterable[Figure]) -> list[Figure]:
    """Put ``figures`` into the file at ``path``: replace entries of the same name, keep the rest.

    Entries keep their place in the file; new names are appended. The file is replaced
    atomically, so a reader never sees half a file.
    """
    merged = read_figures(path)
    index = {entry["name"]: i for i, entry in enumerate(merged)}
    for figure in figures:
        missing = [k for k in REQUIRED if k not in figure]
        if missing:
            raise ValueError(f"figure {figure.get('name')!r} lacks {', '.join(missing)}")
        if figure["name"] in index:
            merged[index[figure["name"]]] = figure
        else:
            index[figure["name"]] = len(merged)
            merged.append(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(merged, f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return merged
