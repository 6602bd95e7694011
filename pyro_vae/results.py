"""The results of an experiment run: ``results.json`` and ``results.md`` (SPEC, "Results files").

An experiment's ``run(config, out_dir)`` returns a :class:`Results`; the runner writes it with
:func:`write_results`. Every paper claim is a :class:`Claim` whose ``holds`` is computed from the
measured numbers by the experiment's code, never written by hand.

Rules of the JSON file:

* it is ``json.dumps(..., indent=2)`` of :meth:`Results.to_dict`;
* numbers from numpy or torch (scalars, arrays, tensors) are written as plain JSON numbers and
  lists, tuples as lists, paths as strings;
* a non-finite number (NaN, +inf, −inf) is written as ``null``; ``results.md`` shows it as
  ``nan``, ``inf`` or ``-inf``. The file is therefore always strict JSON;
* any other value that JSON cannot hold is a :class:`TypeError` that names where it sits.

Both files are written atomically (a temporary file in the same folder, then
:func:`os.replace`); both are rendered before either is written, so a value that cannot be
serialised leaves the previous files untouched.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import platform
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy

JSON_NAME = "results.json"
MARKDOWN_NAME = "results.md"

__all__ = ["Claim", "Results", "versions", "write_results", "read_results"]


def versions() -> dict[str, str]:
    """Versions of pyro_vae, pyro, torch, numpy and python, for reproducibility."""
    import pyro
    import torch

    import pyro_vae

    return {
        "pyro_vae": pyro_vae.__version__,
        "pyro": pyro.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


@dataclass
class Claim:
    """One claim of a paper, checked against our numbers.

    :param claim: the claim in words, e.g. ``"ELBO rises during joint training"``.
    :param paper: the paper's numbers, e.g. ``"-3.74 -> -3.70"``; ``None`` if it gives none.
    :param ours: our numbers, in the same form.
    :param holds: whether the claim holds for our numbers, computed by the caller's code.
        A ``bool`` (a ``numpy.bool_`` is accepted and converted); anything else is a TypeError.
    """

    claim: str
    paper: str | None
    ours: str
    holds: bool

    def __post_init__(self) -> None:
        if not isinstance(self.claim, str) or not self.claim:
            raise TypeError(f"Claim.claim must be a non-empty str, got {self.claim!r}")
        if self.paper is not None and not isinstance(self.paper, str):
            raise TypeError(f"Claim.paper must be a str or None, got {self.paper!r}")
        if not isinstance(self.ours, str):
            raise TypeError(f"Claim.ours must be a str, got {self.ours!r}")
        if isinstance(self.holds, numpy.bool_):
            self.holds = bool(self.holds)
        if not isinstance(self.holds, bool):
            raise TypeError(
                f"Claim.holds must be a bool computed from the numbers, got {self.holds!r} "
                f"for claim {self.claim!r}"
            )


@dataclass
class Results:
    """Everything one experiment run produced: the content of ``results.json``.

    :param settings: every setting that was used (the profile's configuration, resolved).
    :param metrics: named numbers; nested dicts are allowed.
    :param claims: the paper's claims, each checked.
    :param figures: file names of the figures, relative to the output folder.
    :param runtime_s: wall-clock seconds; the runner fills it in when left at 0.
    :param versions: package versions; defaults to :func:`versions` at construction.
    :param tables: optional extra tables, each a list of rows (dicts), e.g. a per-step
        history or a paper-vs-ours table.
    """

    experiment: str
    profile: str
    seed: int
    settings: dict
    metrics: dict
    claims: list[Claim]
    figures: list[str]
    runtime_s: float = 0.0
    versions: dict = field(default_factory=lambda: versions())
    tables: dict[str, list[dict]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The fields as a dict, claims as dicts; values are shared, not copied or converted."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["claims"] = [dataclasses.asdict(c) for c in self.claims]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Results:
        """The inverse of :meth:`to_dict` (for a dict read back from ``results.json``)."""
        data = dict(data)
        data["claims"] = [Claim(**c) for c in data.get("claims", [])]
        data.setdefault("tables", {})
        return cls(**data)


def to_json_value(value: Any, where: str = "results") -> Any:
    """``value`` as plain JSON data; non-finite numbers become ``None`` (see the module doc)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, dict):
        return {_json_key(k, where): to_json_value(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalar/array, torch tensor
        if hasattr(value, "detach"):
            value = value.detach().cpu()
        return to_json_value(value.tolist(), where)
    raise TypeError(f"{where}: a {type(value).__name__} cannot be written to {JSON_NAME}: {value!r}")


def _json_key(key: Any, where: str) -> str:
    if isinstance(key, str):
        return key
    raise TypeError(f"{where}: dict keys must be str for {JSON_NAME}, got {key!r}")


def render_json(results: Results) -> str:
    """The text of ``results.json``."""
    data = to_json_value(results.to_dict())
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# --- Markdown -----------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A value as Markdown table text: floats to 4 significant digits, ``—`` for None."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    if hasattr(value, "tolist") and callable(value.tolist):
        if hasattr(value, "detach"):
            value = value.detach().cpu()
        return format_value(value.tolist())
    return str(value)


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else format_value(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def _flatten(mapping: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as ``(dotted.name, value)`` rows."""
    rows = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += _flatten(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows


def markdown_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A GitHub-flavoured Markdown table, as lines."""
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _records_table(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    if not columns:
        return ["(empty)"]
    return markdown_table(columns, [[row.get(c) for c in columns] for row in rows])


def render_markdown(results: Results) -> str:
    """The text of ``results.md``: the same content as ``results.json``, as tables."""
    r = results
    held = sum(c.holds for c in r.claims)
    lines = [f"# {r.experiment} — profile `{r.profile}`, seed {r.seed}", ""]
    lines += [f"Claims that hold: {held} of {len(r.claims)}. Runtime: {float(r.runtime_s):.1f} s."]
    lines += ["Versions: " + ", ".join(f"{k} {v}" for k, v in r.versions.items()) + ".", ""]
    lines += ["## Settings", ""]
    lines += markdown_table(["setting", "value"], [list(row) for row in _flatten(r.settings)]) + [""]
    lines += ["## Metrics", ""]
    lines += markdown_table(["metric", "value"], [list(row) for row in _flatten(r.metrics)]) + [""]
    lines += ["## Claims", ""]
    claim_rows = [[c.claim, c.paper, c.ours, "✓" if c.holds else "✗"] for c in r.claims]
    lines += markdown_table(["claim", "paper", "ours", "holds"], claim_rows) + [""]
    for name, rows in r.tables.items():
        lines += [f"## {name}", ""] + _records_table(rows) + [""]
    if r.figures:
        lines += ["## Figures", ""]
        for fig in r.figures:
            fig = str(fig)
            lines += [f"![{pathlib.PurePath(fig).stem}]({fig.replace(' ', '%20')})", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# --- files --------------------------------------------------------------------------------


def _write_atomic(path: pathlib.Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_results(results: Results, out_dir: str | os.PathLike) -> None:
    """Write ``results.json`` and ``results.md`` into ``out_dir`` (created if missing), atomically."""
    if not isinstance(results, Results):
        raise TypeError(f"write_results expects a Results, got {type(results).__name__}")
    out = pathlib.Path(out_dir)
    json_text = render_json(results)  # render both first: a bad value writes nothing
    md_text = render_markdown(results)
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / JSON_NAME, json_text)
    _write_atomic(out / MARKDOWN_NAME, md_text)


def read_results(out_dir: str | os.PathLike) -> Results:
    """Read ``results.json`` back from ``out_dir`` (non-finite numbers come back as ``None``)."""
    path = pathlib.Path(out_dir) / JSON_NAME
    return Results.from_dict(json.loads(path.read_text(encoding="utf-8")))
