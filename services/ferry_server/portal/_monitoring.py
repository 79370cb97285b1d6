"""The portal's monitoring pages: one deployment's monitoring (drift over time per feature,
prediction drift, fragility, slices, latency and errors per release, its alerts) and the
alerts of the caller's teams. Everything comes from the application layer's
``Monitoring`` after the same admission as the API's ``get_monitoring_report`` and
``list_alerts``; this module only shapes the numbers into charts and tables."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Query, Request, Response

from ferry_contract import MonitoringReportPublic, ReleaseReport
from ferry_platform.application import MonitoringView
from ferry_server.portal._pages import Name, admit, chart
from ferry_server.portal._web import PAGE_SIZE, CallerDep, app_of, render, router

WINDOWS = ("1h", "6h", "24h", "7d")
Window = Literal["1h", "6h", "24h", "7d"]
AlertState = Literal["open", "resolved", "all"]

FRAGILITY = (("null_rate", "null"), ("out_of_range_rate", "out of range"),
             ("unseen_category_rate", "unseen category"),
             ("schema_violation_rate", "schema violations"),
             ("lookup_miss_rate", "missed lookups"))
"""Fragility rates per feature, and what the page calls them."""

SLICE_METRICS = ("accuracy", "tpr", "fpr", "positive_rate")


def _tick(when: datetime, window: str) -> str:
    when = when.astimezone(UTC)
    return f"{when:%m-%d %H:%M}" if window == "7d" else f"{when:%H:%M}"


def _release_at(report: MonitoringReportPublic, release_id: str) -> ReleaseReport | None:
    return next((r for r in report.releases if r.release_id == release_id), None)


def _drift_groups(rel: ReleaseReport) -> list[dict[str, Any]]:
    """Features grouped by the kind of their test and its threshold (distances are over
    their threshold when drifting, p-values under it: never on one axis together)."""
    groups: dict[tuple[bool, float | None], dict[str, list[str]]] = {}
    for d in rel.drift:
        if d.status == "no_reference":
            continue
        group = groups.setdefault((_is_p_value(d.method), d.threshold),
                                  {"methods": [], "columns": []})
        group["columns"].append(d.column)
        if d.method and d.method not in group["methods"]:
            group["methods"].append(d.method)
    return [{"p_value": p, "threshold": t, "method": " / ".join(g["methods"]) or None,
             "columns": g["columns"]} for (p, t), g in groups.items()]


def _is_p_value(method: str | None) -> bool:
    """Tests whose score is a p-value: drift is a score *under* the threshold."""
    return (method or "").lower() in {"ks", "chisquare", "z", "anderson", "cramer_von_mises",
                                      "ed", "es", "mannw", "t_test", "g_test", "fisher_exact",
                                      "empirical_mmd"}


def _series_chart(view: MonitoringView, rel_id: str, title: str, columns: list[str],
                  value: Any, threshold: float | None) -> dict[str, Any]:
    """A line chart over the view's steps: one line per column, None where a step had no
    score (not enough data), and the threshold as a dashed line."""
    labels = [_tick(r.end, view.window) for r in view.timeline]
    series: dict[str, list[Any]] = {c: [] for c in columns}
    for step in view.timeline:
        rel = _release_at(step, rel_id)
        for c in columns:
            series[c].append(value(rel, c) if rel is not None else None)
    spec = chart("line", labels, series, title)
    if threshold is not None:
        spec["series"].append({"label": "threshold", "data": [threshold] * len(labels),
                               "threshold": True})
    return spec


def _score(kind: str) -> Any:
    def get(rel: ReleaseReport, column: str) -> float | None:
        rows = rel.drift if kind == "drift" else rel.prediction_drift
        found = next((d for d in rows if d.column == column), None)
        return found.score if found is not None and found.status == "ok" else None
    return get


def _fragility_rows(rel: ReleaseReport) -> list[dict[str, Any]]:
    """Per feature, each fragility rate (schema violations: refused requests naming the
    column, over the release's requests)."""
    requests = rel.service.requests or 0
    out = []
    names = [f.column for f in rel.fragility] + [
        c for c in rel.service.schema_violations if c not in {f.column for f in rel.fragility}]
    by_name = {f.column: f for f in rel.fragility}
    for name in names:
        f = by_name.get(name)
        refused = sum(rel.service.schema_violations.get(name, {}).values())
        out.append({
            "column": name, "rows": f.rows if f else 0,
            "null_rate": f.null_rate if f else None,
            "reference_null_rate": f.reference_null_rate if f else None,
            "out_of_range_rate": f.out_of_range_rate if f else None,
            "unseen_category_rate": f.unseen_category_rate if f else None,
            "unseen_examples": f.unseen_examples if f else [],
            "schema_violation_rate": refused / requests if requests else None,
            "schema_violations": rel.service.schema_violations.get(name, {}),
            "lookup_miss_rate": f.lookup_miss_rate if f else None})
    return out


def _release_section(view: MonitoringView, rel: ReleaseReport, i: int) -> dict[str, Any]:
    """Charts and tables of one release of the view."""
    step, window = view.step, view.window
    drift_charts = []
    for g in _drift_groups(rel):
        under = g["p_value"]
        drift_charts.append({
            "method": g["method"], "threshold": g["threshold"], "p_value": under,
            "columns": g["columns"],
            "chart": _series_chart(
                view, rel.release_id,
                f"{'p-value' if under else 'Drift score'} ({g['method'] or 'default test'}) "
                f"per feature, per {step}", g["columns"], _score("drift"), g["threshold"])})
    pred_cols = [d.column for d in rel.prediction_drift if d.status != "no_reference"]
    pred_threshold = Counter(d.threshold for d in rel.prediction_drift).most_common(1)
    prediction_chart = _series_chart(
        view, rel.release_id, f"Prediction drift per {step}", pred_cols,
        _score("prediction"), pred_threshold[0][0] if pred_threshold else None) \
        if pred_cols else None
    fragility = _fragility_rows(rel)
    fragility_chart = chart(
        "bar", [f["column"] for f in fragility],
        {label: [f[key] for f in fragility] for key, label in FRAGILITY
         if any(f[key] for f in fragility) or key in ("null_rate", "out_of_range_rate")},
        f"Fragility rates per feature over the last {window}") if fragility else None
    labels = [_tick(r.end, window) for r in view.timeline]
    steps = [_release_at(r, rel.release_id) for r in view.timeline]
    latency_chart = chart("line", labels, {
        "p50 (ms)": [s.service.p50_ms if s else None for s in steps],
        "p99 (ms)": [s.service.p99_ms if s else None for s in steps]},
        f"Latency per {step} (ms)")
    if view.monitor.p99_ms_max is not None:
        latency_chart["series"].append({"label": "p99 threshold", "threshold": True,
                                        "data": [view.monitor.p99_ms_max] * len(labels)})
    errors_chart = chart("line", labels, {
        "error rate": [s.service.error_rate if s else None for s in steps],
        "requests": [s.service.requests if s else 0 for s in steps]},
        f"Requests and error rate per {step}")
    errors_chart["series"][1]["axis"] = "y2"
    if view.monitor.error_rate_max is not None:
        errors_chart["series"].append({"label": "error rate threshold", "threshold": True,
                                       "data": [view.monitor.error_rate_max] * len(labels)})
    slice_charts = []
    for column in dict.fromkeys(s.column for s in rel.slices):
        groups = [s for s in rel.slices if s.column == column]
        slice_charts.append({"column": column, "groups": groups,
                             "gaps": [g for g in rel.slice_gaps if g.column == column],
                             "chart": chart("bar", [g.group for g in groups],
                                            {m: [getattr(g, m) for g in groups]
                                             for m in SLICE_METRICS},
                                            f"Rates per group of {column}")})
    drifted = [d.column for d in rel.drift if d.drifted]
    return {"rel": rel, "i": i, "drift_charts": drift_charts, "steps": steps,
            "labels": labels, "prediction_chart": prediction_chart, "fragility": fragility,
            "fragility_chart": fragility_chart, "latency_chart": latency_chart,
            "errors_chart": errors_chart, "slice_charts": slice_charts, "drifted": drifted,
            "enough": not any(d.status == "not_enough_data" for d in rel.drift)}


@router.get("/deployments/{name}/monitoring")
def monitoring_page(request: Request, me: CallerDep, name: Name, window: Window = "1h",
                    state: AlertState = "open",
                    before: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> Response:
    """Drift over time per feature, prediction drift, fragility, slices, latency and errors
    per release over the last ``window``, and the deployment's alerts (paged)."""
    app = app_of(request)
    view = app.monitoring.view(me.who, name, window)  # get_monitoring_report's rule
    admit(app, me, "list_alerts", "alert")
    alerts = app.monitoring.alerts(me.who, deployment=name,
                                   state=None if state == "all" else state,
                                   limit=PAGE_SIZE + 1, before=before)
    return render(
        request, "monitoring.html", me=me, nav="deployments", view=view, name=name,
        report=view.report, windows=WINDOWS, window=window, state=state,
        sections=[_release_section(view, r, i) for i, r in enumerate(view.report.releases)],
        alerts=alerts[:PAGE_SIZE],
        more=alerts[PAGE_SIZE - 1].id if len(alerts) > PAGE_SIZE else None,
        p_value=_is_p_value)


@router.get("/alerts")
def alerts_page(request: Request, me: CallerDep, state: AlertState = "open",
                team: Annotated[str | None, Query(max_length=63)] = None,
                deployment: Annotated[str | None, Query(max_length=100)] = None,
                before: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> Response:
    """Alerts of the caller's teams (platform admins: every team's), newest first."""
    app = app_of(request)
    admit(app, me, "list_alerts", "alert")
    found = app.monitoring.alerts(me.who, deployment=deployment or None,
                                  state=None if state == "all" else state,
                                  team=team or None, limit=PAGE_SIZE + 1, before=before)
    teams = app.identity.team_names() if me.who.is_admin else sorted(me.who.roles)
    return render(request, "alerts.html", me=me, nav="alerts", alerts=found[:PAGE_SIZE],
                  more=found[PAGE_SIZE - 1].id if len(found) > PAGE_SIZE else None,
                  state=state, team=team or "", deployment=deployment or "", teams=teams)
