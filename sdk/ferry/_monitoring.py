"""A monitoring report as the SDK returns it: the wire schema's fields, a few readings,
and a picture (matplotlib, imported only by :meth:`MonitoringReport.plot`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ferry_contract import MonitoringReportPublic, ReleaseReport


class MonitoringReport:
    """One window of a deployment's traffic, per release (``client.monitoring(...)``).

    Every field of ``MonitoringReportPublic`` is an attribute (``report.releases``,
    ``report.business_value``, ``report.alerts``, ...); :meth:`drifted` and :meth:`release`
    read it; :meth:`plot` draws it."""

    def __init__(self, public: MonitoringReportPublic) -> None:
        self.public = public

    def __getattr__(self, name: str) -> Any:
        return getattr(self.public, name)

    def __repr__(self) -> str:
        rels = ", ".join(f"{r.release_id} ({r.rows} rows)" for r in self.public.releases)
        return (f"MonitoringReport({self.public.deployment}, window={self.public.window}, "
                f"releases=[{rels}], alerts={len(self.public.alerts)})")

    def to_dict(self) -> dict[str, Any]:
        return self.public.model_dump(mode="json")

    def release(self, release_id: str | None = None) -> ReleaseReport:
        """One release's part (default: the one with the most rows)."""
        if not self.public.releases:
            raise LookupError(f"no release of {self.public.deployment} had traffic in this "
                              "window")
        if release_id is None:
            return max(self.public.releases, key=lambda r: r.rows)
        for r in self.public.releases:
            if r.release_id == release_id:
                return r
        raise LookupError(f"{release_id} had no traffic in this window; releases: "
                          f"{[r.release_id for r in self.public.releases]}")

    def drifted(self, release_id: str | None = None) -> list[str]:
        """The features (and outputs) that drifted in one release."""
        r = self.release(release_id)
        return [d.column for d in [*r.drift, *r.prediction_drift] if d.drifted]

    def plot(self, path: str | Path) -> Path:
        """Draw the report into an image (PNG, SVG or PDF by the suffix): drift per feature
        against its threshold, fragility rates, latency, slice metrics and business value
        per arm. Returns the path."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        report = self.public
        releases = report.releases
        fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
        fig.suptitle(f"{report.deployment}: last {report.window} "
                     f"({report.start:%Y-%m-%d %H:%M} to {report.end:%H:%M} UTC)")
        _drift(axes[0][0], releases)
        _prediction_drift(axes[0][1], releases)
        _fragility(axes[0][2], releases)
        _latency(axes[1][0], releases)
        _slices(axes[1][1], releases)
        _value(axes[1][2], report)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, dpi=100)
        plt.close(fig)
        return out


def _empty(ax: Any, title: str, why: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_axis_off()


def _bars(ax: Any, names: list[str], series: dict[str, list[float]], colors: Any = None) -> None:
    import numpy as np

    x = np.arange(len(names))
    width = 0.8 / max(1, len(series))
    for i, (label, values) in enumerate(series.items()):
        ax.bar(x + i * width - 0.4 + width / 2, values, width, label=label,
               color=colors[i] if colors else None)
    ax.set_xticks(x, names, rotation=30, ha="right")
    if len(series) > 1:
        ax.legend(fontsize=8)


def _drift(ax: Any, releases: list[ReleaseReport]) -> None:
    scored = [(r, [d for d in r.drift if d.score is not None]) for r in releases]
    scored = [(r, ds) for r, ds in scored if ds]
    if not scored:
        why = "; ".join(n for r in releases for n in r.notes) or "no drift scores"
        _empty(ax, "Feature drift", why[:200])
        return
    r, ds = max(scored, key=lambda t: t[0].rows)
    colors = ["tab:red" if d.drifted else "tab:blue" for d in ds]
    ax.bar([d.column for d in ds], [float(d.score or 0) for d in ds], color=colors)
    for i, d in enumerate(ds):
        if d.threshold is not None:
            ax.hlines(d.threshold, i - 0.4, i + 0.4, colors="black", linestyles="dashed")
    ax.set_title(f"Feature drift of {r.release_id} (red: drifted; dashed: threshold)",
                 fontsize=9)
    ax.set_ylabel("score (method's scale)")
    ax.tick_params(axis="x", rotation=30)


def _prediction_drift(ax: Any, releases: list[ReleaseReport]) -> None:
    items = [(r.release_id, d) for r in releases for d in r.prediction_drift
             if d.score is not None]
    if not items:
        _empty(ax, "Prediction drift", "no prediction drift scores")
        return
    names = [f"{rid[-12:]}\n{d.column}" for rid, d in items]
    ax.bar(names, [float(d.score or 0) for _, d in items],
           color=["tab:red" if d.drifted else "tab:blue" for _, d in items])
    for i, (_, d) in enumerate(items):
        if d.threshold is not None:
            ax.hlines(d.threshold, i - 0.4, i + 0.4, colors="black", linestyles="dashed")
    ax.set_title("Prediction drift vs the training reference (dashed: threshold)",
                 fontsize=9)


def _fragility(ax: Any, releases: list[ReleaseReport]) -> None:
    if not releases or not releases[0].fragility:
        _empty(ax, "Fragility", "no rows")
        return
    r = max(releases, key=lambda x: x.rows)
    names = [f.column for f in r.fragility]
    _bars(ax, names, {
        "null rate": [f.null_rate for f in r.fragility],
        "out of range": [f.out_of_range_rate or 0.0 for f in r.fragility],
        "unseen category": [f.unseen_category_rate or 0.0 for f in r.fragility]})
    ax.set_title(f"Fragility of {r.release_id}", fontsize=9)
    ax.set_ylabel("share of rows")


def _latency(ax: Any, releases: list[ReleaseReport]) -> None:
    served = [r for r in releases if r.service.requests]
    if not served:
        _empty(ax, "Latency", "no requests")
        return
    names = [f"{r.release_id[-14:]}\n{'/'.join(r.arms)}" for r in served]
    _bars(ax, names, {q: [float(getattr(r.service, f"{q}_ms") or 0) for r in served]
                      for q in ("p50", "p95", "p99")})
    for i, r in enumerate(served):
        rate = r.service.error_rate
        ax.annotate(f"{r.service.requests} req\n{(rate or 0):.1%} errors", (i, 0),
                    textcoords="offset points", xytext=(0, 4), ha="center", fontsize=7)
    ax.set_title("Latency per release (ms)", fontsize=9)


def _slices(ax: Any, releases: list[ReleaseReport]) -> None:
    groups = [(r, g) for r in releases for g in r.slices]
    if not groups:
        _empty(ax, "Slices", "no slice metrics (a slice column and labelled outcomes are "
                             "needed)")
        return
    names = [f"{g.column}={g.group}" for _, g in groups]
    _bars(ax, names, {m: [float(getattr(g, m) or 0) for _, g in groups]
                      for m in ("positive_rate", "tpr", "fpr", "accuracy")})
    ax.set_title("Per-slice metrics (labelled rows)", fontsize=9)


def _value(ax: Any, report: MonitoringReportPublic) -> None:
    values = [v for v in report.business_value if v.mean is not None]
    if not values:
        _empty(ax, "Business value", "no outcome values logged for this window")
        return
    names = [f"{v.arm}\n{v.release_id[-14:]}" for v in values]
    means = [float(v.mean or 0) for v in values]
    low = [m - (v.ci_low if v.ci_low is not None else m) for m, v in zip(means, values,
                                                                          strict=True)]
    high = [(v.ci_high if v.ci_high is not None else m) - m for m, v in zip(means, values,
                                                                             strict=True)]
    ax.bar(names, means, yerr=[low, high], capsize=6, color="tab:green")
    ax.set_title("Business value per arm (mean, 95% interval)", fontsize=9)
