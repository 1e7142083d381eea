"""The Models and Data views of the dashboard.

Each panel reads the shared store when its tab is opened (``refresh``) and calls the registry or
drawing store for its buttons; errors reach the status line through the dashboard's ``guard``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ipywidgets import HTML, Button, Dropdown, HBox, Layout, Text, VBox

from digitlib.config import MODEL_NAMES, SHIPPED_MODELS_DIR
from digitlib.dashboard import render

if TYPE_CHECKING:  # pragma: no cover
    from digitlib.dashboard.app import Dashboard


def _field(record: Any, *names: str, default: Any = None) -> Any:
    """The first of ``names`` found on a record that may be a dict or an object."""
    for name in names:
        if isinstance(record, dict) and name in record:
            return record[name]
        if hasattr(record, name):
            return getattr(record, name)
    return default


class ModelsPanel:
    """Live versions, history charts, confusion matrix, rollback, corrupt-checkpoint warnings."""

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        self.stale = True
        guard = dashboard.guard
        self.warnings = HTML()
        self.versions = HTML()
        self.history = HTML()
        self.confusion = HTML()
        self.rollback_model = Dropdown(
            options=list(MODEL_NAMES), description="Model", layout=Layout(width="200px")
        )
        self.rollback_version = Dropdown(
            options=[], description="Version", layout=Layout(width="200px")
        )
        self.rollback_button = Button(
            description="Roll back", icon="history", button_style="warning"
        )
        self.refresh_button = Button(description="Refresh", icon="refresh")
        self.rollback_model.observe(guard(self._fill_versions), names="value")
        self.rollback_button.on_click(guard(lambda _: self.rollback()))
        self.refresh_button.on_click(guard(lambda _: self.refresh()))
        self._histories: dict[str, list[Any]] = {}
        self.widget = VBox(
            [
                self.refresh_button,
                self.warnings,
                HTML("<h4>Live versions</h4>"),
                self.versions,
                HTML("<h4>Accuracy after each update</h4>"),
                self.history,
                HTML("<h4>Roll back a model</h4>"),
                HBox(
                    [self.rollback_model, self.rollback_version, self.rollback_button],
                    layout=Layout(flex_flow="row wrap"),
                ),
                HTML("<h4>Confusion matrix (shipped ensemble, test set)</h4>"),
                self.confusion,
            ]
        )

    def refresh(self) -> None:
        services = self.dashboard.services
        recognizer = services.recognizer
        warnings = list(getattr(recognizer, "warnings", []) or [])
        self.warnings.value = (
            '<div class="dl-warning-box"><b>Corrupt checkpoints were skipped at load:</b><ul>'
            + "".join(f"<li>{html.escape(str(w))}</li>" for w in warnings)
            + "</ul></div>"
            if warnings
            else ""
        )
        live = dict(getattr(recognizer, "versions", {}) or {})
        registry = services.registry
        self._histories = {}
        if registry is not None:
            for name in MODEL_NAMES:
                try:
                    self._histories[name] = list(registry.history(name))
                except Exception as error:  # noqa: BLE001 - one model's history should not hide the rest
                    self._histories[name] = []
                    self.dashboard.report(f"history of {name} unavailable: {error}", "warning")
        rows = []
        for name in MODEL_NAMES:
            history = self._histories.get(name, [])
            rows.append((name, live.get(name, "?"), len(history)))
        self.versions.value = render.table_html(rows, ("model", "live version", "versions stored"))
        self.history.value = self._history_charts()
        self._fill_versions()
        self.confusion.value = self._confusion()
        self.stale = False

    def _history_charts(self) -> str:
        if not any(self._histories.values()):
            return '<div class="dl-empty">No updates yet: the shipped models are live.</div>'
        charts = []
        for name, history in self._histories.items():
            if not history:
                continue
            labels = [str(_field(entry, "version", default=i)) for i, entry in enumerate(history)]
            series: dict[str, list[float]] = {}
            for key, title in (("mnist_accuracy", "MNIST"), ("canvas_accuracy", "canvas-style")):
                values = []
                for entry in history:
                    metrics = _field(entry, "metrics", default={}) or {}
                    value = (
                        metrics.get(key, metrics.get(title.lower()))
                        if isinstance(metrics, dict)
                        else None
                    )
                    values.append(
                        float(value) if isinstance(value, (int, float)) else float("nan")
                    )
                if any(v == v for v in values):
                    series[title] = values
            charts.append(
                f"<div><b>{html.escape(name)}</b>{render.line_chart_svg(series, labels)}</div>"
            )
        return '<div style="display:flex;flex-wrap:wrap;gap:12px">' + "".join(charts) + "</div>"

    def _fill_versions(self, change: Any = None) -> None:
        history = self._histories.get(self.rollback_model.value, [])
        self.rollback_version.options = [
            str(_field(entry, "version", default=entry)) for entry in history
        ]

    def _confusion(self) -> str:
        path = Path(SHIPPED_MODELS_DIR) / "metrics.json"
        if not path.exists():
            return '<div class="dl-empty">models/metrics.json is not there yet (run make evaluate).</div>'
        metrics = json.loads(path.read_text())
        matrix = _find_confusion(metrics)
        if matrix is None:
            return '<div class="dl-empty">models/metrics.json holds no confusion matrix.</div>'
        return render.confusion_matrix_html(matrix)

    def rollback(self) -> None:
        registry = self.dashboard.services.registry
        if registry is None:
            raise RuntimeError("no model registry is available (see the start-up warning)")
        name, version = self.rollback_model.value, self.rollback_version.value
        if not version:
            raise ValueError(f"{name} has no stored versions to roll back to")
        registry.rollback(name, version)
        self.dashboard.services.sync_models(force=True)
        self.dashboard.report(f"{name} rolled back to version {version}.")
        self.refresh()


def _find_confusion(metrics: Any) -> Any:
    """The ensemble's (else any) confusion matrix in a metrics.json document."""
    if isinstance(metrics, dict):
        for key in ("ensemble", "confusion_matrix", "confusion"):
            if key in metrics:
                found = metrics[key] if key != "ensemble" else _find_confusion(metrics[key])
                if found is not None and not isinstance(found, dict):
                    return found
        for value in metrics.values():
            found = _find_confusion(value)
            if found is not None:
                return found
    return None


class DataPanel:
    """The collected drawings: thumbnails, relabel, delete, the review queue, export."""

    page_size = 24

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        self.stale = True
        guard = dashboard.guard
        self.refresh_button = Button(description="Refresh", icon="refresh")
        self.export_button = Button(description="Export", icon="download")
        self.refresh_button.on_click(guard(lambda _: self.refresh()))
        self.export_button.on_click(guard(lambda _: self.export()))
        self.summary = HTML()
        self.export_link = HTML()
        self.gallery = HBox(layout=Layout(flex_flow="row wrap", gap="8px"))
        self.gallery.add_class("digitlib-gallery")
        self.queue = VBox()
        self.queue.add_class("digitlib-queue")
        self.widget = VBox(
            [
                HBox([self.refresh_button, self.export_button]),
                self.export_link,
                self.summary,
                self.gallery,
                HTML("<h4>Review queue (labels held for a person to check)</h4>"),
                self.queue,
            ]
        )

    def _drawings(self) -> Any:
        drawings = self.dashboard.services.drawings
        if drawings is None:
            raise RuntimeError("no drawing store is available (see the start-up warning)")
        return drawings

    def refresh(self) -> None:
        drawings = self._drawings()
        records = list(drawings.list())
        shown = records[-self.page_size :][::-1]
        self.summary.value = f"{len(records)} drawing(s) saved" + (
            f"; the newest {len(shown)} shown." if len(records) > len(shown) else "."
        )
        self.gallery.children = [self._card(record) for record in shown]
        try:
            held = list(drawings.list_held())
        except Exception as error:  # noqa: BLE001
            held = []
            self.dashboard.report(f"review queue unavailable: {error}", "warning")
        self.queue.children = [self._held_row(item) for item in held] or [
            HTML("<i>Nothing to review.</i>")
        ]
        self.stale = False

    def _card(self, record: Any) -> VBox:
        guard = self.dashboard.guard
        drawing_id = str(_field(record, "id", "drawing_id", "key"))
        labels = str(_field(record, "labels", "label", default=""))
        prediction = str(_field(record, "prediction", default="") or "")
        image = _field(record, "image", default=None)
        if image is None:
            image = self._drawings().get(drawing_id)
            image = _field(image, "image", default=image)
        picture = HTML(
            f'<img alt="drawing {html.escape(drawing_id)}" src="{render.png_data_url(render.thumbnail(image))}"/>'
            f"<div>label <b>{html.escape(labels)}</b>, read {html.escape(prediction or '?')}</div>"
        )
        relabel = Text(value=labels, layout=Layout(width="70px"))
        relabel_button = Button(description="Relabel", layout=Layout(width="70px"))
        delete_button = Button(
            description="Delete", button_style="danger", layout=Layout(width="60px")
        )

        def do_relabel(_: Any) -> None:
            self._drawings().relabel(drawing_id, relabel.value.strip())
            self.dashboard.report(f"Drawing {drawing_id} relabelled {relabel.value.strip()}.")
            self.refresh()

        def do_delete(_: Any) -> None:
            self._drawings().delete(drawing_id)
            self.dashboard.report(f"Drawing {drawing_id} deleted.")
            self.refresh()

        relabel_button.on_click(guard(do_relabel))
        delete_button.on_click(guard(do_delete))
        card = VBox([picture, HBox([relabel, relabel_button]), delete_button])
        card.add_class("dl-thumb")
        card.add_class("digitlib-drawing")
        return card

    def _held_row(self, item: Any) -> HBox:
        guard = self.dashboard.guard
        held_id = str(_field(item, "id", "held_id", "key"))
        labels = str(_field(item, "labels", "label", default=""))
        why = str(_field(item, "reason", default="") or "")
        accept = Button(description="Accept", button_style="success", layout=Layout(width="70px"))
        reject = Button(description="Reject", button_style="danger", layout=Layout(width="70px"))

        def do(action: str) -> Any:
            def run(_: Any) -> None:
                getattr(self._drawings(), action)(held_id)
                self.dashboard.report(f"Held label {labels!r} {action}ed.")
                self.refresh()

            return guard(run)

        accept.on_click(do("accept"))
        reject.on_click(do("reject"))
        image = _field(item, "image", default=None)
        picture = (
            f'<img style="height:40px" src="{render.png_data_url(render.thumbnail(image))}"/>'
            if image is not None
            else ""
        )
        return HBox(
            [
                HTML(f"{picture} <b>{html.escape(labels)}</b> <small>{html.escape(why)}</small>"),
                accept,
                reject,
            ]
        )

    def export(self) -> None:
        drawings = self._drawings()
        from digitlib.config import PROJECT_ROOT

        target = PROJECT_ROOT / "data" / "exports"
        target.mkdir(parents=True, exist_ok=True)
        path = drawings.export(target)
        self.export_link.value = f"Exported to <code>{html.escape(str(path))}</code>"
        self.dashboard.report(f"Exported the drawings to {path}.")
