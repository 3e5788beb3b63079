"""``naga report``: one HTML file that shows runs with no server and no network.

The file is ``naga ui``'s page with everything inlined: uPlot's script and style, the page's
own script (``static/app.js``, which reads its data from the embedded document instead of the
API) and the data as JSON in ``<script type="application/json">``. The JSON has every ``<``,
``>`` and ``&`` written as a ``\\u`` escape, so no record text (a run named ``</script>``) can
end the block early; the script only ever puts record text in ``textContent``. A content
security policy in the file allows exactly its own inline script and style (by their hashes)
and images from ``data:``: a record cannot make the page load or send anything.

Series are downsampled (``POINTS`` per metric per run, each bucket's min and max), so a sweep of
100 runs with a few metrics each stays a few MB.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from datetime import datetime, timezone
from importlib.resources import files
from typing import Any

from .. import jsonsafe
from .._version import __version__
from ..errors import NagaError
from ..present.record import run_record
from ..store import Store, with_elapsed
from . import data

POINTS = 500
SURROGATE = re.compile("[\ud800-\udfff]")  # what a record's invalid UTF-8 reads as
HIDDEN_SECTIONS = ("Environment and resources",)  # a report travels: no environment in it
MAX_COLUMNS = 12


def build(
    store: Store, run_ids: list[str], columns: list[str], title: str, over: list[str] | None = None
) -> str:
    """The report of ``run_ids`` (in that order) as HTML text; with ``over``, its chart shows
    the runs grouped over those params (``analysis.seeds``), each group's mean and band."""
    runs = data.report_runs(store, run_ids, POINTS)
    chosen = columns or _default_columns(runs)
    doc = {
        "title": title,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "table": {
            "fields": data.TABLE_FIELDS,
            "columns": chosen,
            "rows": [_row(run, chosen) for run in runs],
            "total": len(runs),
            "complete": True,
            "warnings": [],
        },
        "runs": {run["id"]: _page(store, run) for run in runs},
    }
    if over:
        doc["over"] = over
        doc["groups"] = _groups(store, runs, over)
    return render(doc)


def _groups(store: Store, runs: list[dict[str, Any]], over: list[str]) -> dict[str, Any]:
    """Each metric's groups as ``/api/metrics?over=`` answers them; a metric whose groups
    cannot be averaged (a run never logged it) keeps the reason, which its chart shows."""
    from ..analysis.seeds import group_runs

    group_runs(runs, over)  # a run without the param: an error before any metric is read
    ids = [run["id"] for run in runs]
    found: dict[str, Any] = {}
    for key in dict.fromkeys(k for run in runs for k in run["series"]):
        try:
            found[key] = data.metric_groups(store, ids, key, over, POINTS)
        except NagaError as exc:
            found[key] = {"error": str(exc)}
    return found


def render(doc: dict[str, Any]) -> str:
    static = files("naga.web") / "static"
    style = (static / "vendor" / "uPlot.min.css").read_text() + (static / "app.css").read_text()
    scripts = [
        (static / "vendor" / "uPlot.iife.min.js").read_text(),
        (static / "app.js").read_text(),
    ]
    for text in scripts:
        if "</script" in text.lower() or "<!--" in text:
            raise ValueError("an inlined script would end its <script> block")  # pragma: no cover
    csp = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(_hash(s) for s in scripts),
            "style-src " + _hash(style),
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    title = html.escape(SURROGATE.sub("\ufffd", doc["title"]))  # a directory name not in UTF-8
    body = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{style}</style>",
        "</head><body>",
        '<header id="top"><a id="home" href="#/">naga report</a><nav><a href="#/">Runs</a>'
        f'<a href="#/chart">Chart</a></nav><span id="live"></span><span id="where">{title}</span>'
        "</header>",
        '<main id="main"></main>',
        f'<script type="application/json" id="naga-data">{embed_json(doc)}</script>',
        *(f"<script>{s}</script>" for s in scripts),
        "</body></html>",
    ]
    return "\n".join(body)


def embed_json(doc: Any) -> str:
    """JSON that is safe inside a ``<script>`` block: no ``<``, ``>`` or ``&`` appears as
    itself (nor the line separators JavaScript once treated as line ends)."""
    text = jsonsafe.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    text = SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)  # a lone one cannot be UTF-8
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def _default_columns(runs: list[dict[str, Any]]) -> list[str]:
    """The params that differ between the runs, then the metrics they logged."""
    params: dict[str, set[str]] = {}
    for run in runs:
        for key, value in (run["params"] or {}).items():
            params.setdefault(key, set()).add(json.dumps(value, sort_keys=True, default=str))
    varying = [k for k, seen in params.items() if len(seen) > 1 or len(runs) == 1]
    metrics = list(dict.fromkeys(k for run in runs for k in run["metrics"] or {}))
    return [*varying, *metrics][:MAX_COLUMNS]


def _row(run: dict[str, Any], columns: list[str]) -> list[Any]:
    values = []
    for column in columns:
        found = (run["params"] or {}).get(column)
        if found is None:
            found = (run["metrics"] or {}).get(column)
        values.append(data.jsonable(found))
    return [
        run["id"],
        run["name"],
        run["status"],
        run["started_at"],
        run["duration_s"],
        run["git"],
        run["command"][: data.COMMAND_MAX],
        0,
        run["tags"],
        *values,
    ]


def _page(store: Store, run: dict[str, Any]) -> dict[str, Any]:
    """What the report's page of one run shows: ``naga show``'s sections (but the
    environment) and its series."""
    meta = with_elapsed(store.get(run["id"]))
    sections = run_record(meta, store.layout, store.children(run["id"]), full_paths=False)
    return {
        "id": run["id"],
        "run": {"name": run["name"]},
        "sections": [
            {
                "title": s.title,
                "rows": [{"label": r.label, "spans": [list(sp) for sp in r.spans]} for r in s.rows],
            }
            for s in sections
            if s.title not in HIDDEN_SECTIONS
        ],
        "keys": list(run["series"]),
        "series": run["series"],
        "params": {k: data.jsonable(v) for k, v in (run["params"] or {}).items()},
        "metrics": {k: data.jsonable(v) for k, v in (run["metrics"] or {}).items()},
        "artifacts": [],
        "patch": None,
        "lineage": None,
    }
