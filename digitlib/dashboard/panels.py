"""The Models and Data views of the dashboard.

Each panel reads the shared store when its tab is opened (``refresh``) and calls the registry or
drawing store for its buttons; errors reach the status line through the dashboard's ``guard``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipywidgets import HTML, Button, Dropdown, HBox, Layout, Text, VBox

from digitlib.config import MODEL_NAMES, SHIPPED_MODELS_DIR
from digitlib.dashboard import render


@dataclass(frozen=True)
class PanelContext:
    """What a panel may use of its page (the panels know nothing else of the dashboard).

    services : ``digitlib.dashboard.Services`` (recognizer, registry, drawings, learner).
    guard : wraps a widget callback so that its errors reach the status line.
    report : ``report(message, level="info")`` writes the status line.
    require_operator : raises ``OperatorOnly`` unless the page unlocked operator mode.
    is_operator : whether it did (and operator mode has not ended since).
    ask_to_confirm : ``ask_to_confirm(action, item)`` notes, in the kernel, that the page shows
        the confirmation of a destructive action on one item.
    confirm : ``confirm(action, item)`` raises unless that confirmation is the one pending (it
        is then used up); a destructive action calls it first.
    cancel : ``cancel(action, item=None)`` drops that confirmation (of any item: None).
    lock : ends operator mode on the page.
    learn_in_background : ``learn_in_background(call, what)`` runs ``call(learner)`` with the
        page's progress bar and verdict.
    session_id : the page's anonymous session id.
    """

    services: Any
    guard: Callable[[Callable], Callable]
    report: Callable[..., None]
    require_operator: Callable[[], None]
    is_operator: Callable[[], bool]
    ask_to_confirm: Callable[[str, str], None]
    confirm: Callable[[str, str], None]
    cancel: Callable[..., None]
    lock: Callable[[], None]
    learn_in_background: Callable[[Callable[[Any], Any], str], None]
    session_id: str


class ModelsPanel:
    """Live versions, history charts, confusion matrix, rollback, corrupt-checkpoint warnings."""

    def __init__(self, page: PanelContext) -> None:
        self.page = page
        guard = page.guard
        self.warnings = HTML()
        self.versions = HTML(layout=Layout(max_width="100%"))
        self.history = HTML(layout=Layout(max_width="100%"))
        self.confusion = HTML(layout=Layout(max_width="100%"))
        self.rollback_model = Dropdown(
            options=list(MODEL_NAMES), description="Model", layout=Layout(width="200px")
        )
        self.rollback_version = Dropdown(
            options=[], description="Version", layout=Layout(width="200px")
        )
        self.rollback_button = Button(
            description="Roll back", icon="history", button_style="warning"
        )
        self.confirm_rollback_button = Button(
            description="Roll back for good",
            button_style="danger",
            layout=Layout(width="auto", display="none"),
        )
        self.confirm_rollback_button.add_class("digitlib-confirm-rollback")
        self.cancel_rollback_button = Button(description="Cancel", layout=Layout(display="none"))
        self.lock_button = Button(description="Lock", icon="lock", layout=Layout(width="auto"))
        self.lock_button.add_class("digitlib-lock")
        self.refresh_button = Button(description="Refresh", icon="refresh")
        self.rollback_model.observe(guard(self._fill_versions), names="value")
        # A question asked about one choice is not an answer about another.
        self.rollback_version.observe(guard(lambda _: self._drop_rollback_question()), "value")
        self.rollback_button.on_click(guard(lambda _: self.ask_to_roll_back()))
        self.confirm_rollback_button.on_click(guard(lambda _: self.rollback()))
        self.cancel_rollback_button.on_click(guard(lambda _: self.cancel_rollback()))
        self.lock_button.on_click(guard(lambda _: page.lock()))
        self.refresh_button.on_click(guard(lambda _: self.refresh()))
        # Rollback is an operator's: a visitor never sees it (and rollback() checks again).
        self.rollback_section = VBox(
            [
                HTML("<h4>Roll back a model</h4>"),
                HBox(
                    [
                        self.rollback_model,
                        self.rollback_version,
                        self.rollback_button,
                        self.confirm_rollback_button,
                        self.cancel_rollback_button,
                        self.lock_button,
                    ],
                    layout=Layout(flex_flow="row wrap"),
                ),
            ],
            layout=Layout(display=None if page.is_operator() else "none"),
        )
        self.rollback_section.add_class("digitlib-rollback")
        self._histories: dict[str, list[Any]] = {}
        self._confusion_cache: dict[str, Any] = {}
        self.widget = VBox(
            [
                self.refresh_button,
                self.warnings,
                HTML("<h4>Live versions</h4>"),
                self.versions,
                HTML("<h4>Accuracy after each update</h4>"),
                self.history,
                self.rollback_section,
                HTML("<h4>Confusion matrix (live ensemble, 2,000 MNIST test digits)</h4>"),
                self.confusion,
            ]
        )

    def refresh(self) -> None:
        services = self.page.services
        recognizer = services.recognizer
        warnings = list(getattr(recognizer, "warnings", []) or [])
        self.warnings.value = (
            '<div class="dl-warning-box"><b>Checkpoints skipped at load (corrupt, unsafe or missing):</b><ul>'
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
                    self.page.report(f"The history of {name} is unavailable ({error}).", "warning")
        shipped = self._shipped_metrics()
        rows = []
        for name in MODEL_NAMES:
            history = self._histories.get(name, [])
            mnist = (shipped.get("mnist") or {}).get(name)
            shown = f"{100 * mnist:.2f}%" if isinstance(mnist, int | float) else "?"
            rows.append((name, live.get(name, "?"), len(history), shown))
        self.versions.value = render.table_html(
            rows, ("model", "live version", "versions stored", "shipped: MNIST test")
        ) + _canvas_summary(shipped)
        self.history.value = self._history_charts()
        self._fill_versions()
        self.confusion.value = self._confusion()

    def _history_charts(self) -> str:
        from digitlib.learn.report import accuracy_series  # learning's modules: not at start

        if not any(self._histories.values()):
            return '<div class="dl-empty">No versions in the store yet: the shipped models are live.</div>'
        charts = []
        for name, history in self._histories.items():
            if not history:
                continue
            labels = [f"v{entry.version}" for entry in history]
            points = [accuracy_series(entry.metrics or {}, name) for entry in history]
            # A version's score before an update is its parent's score on the same validation
            # set: it fills the point of a parent that has none (the seeded shipped version).
            position = {entry.version: index for index, entry in enumerate(history)}
            for entry in history:
                validation = ((entry.metrics or {}).get("validation") or {}).get(name) or {}
                before = validation.get("before")
                parent = position.get(entry.parent)
                if isinstance(before, int | float) and parent is not None:
                    points[parent].setdefault("validation (gate)", float(before))
            titles = sorted({title for point in points for title in point})
            series = {t: [point.get(t, float("nan")) for point in points] for t in titles}
            chart = (
                render.line_chart_svg(series, labels)
                if series
                else f'<div class="dl-empty">{render.plural(len(history), "version")}, no accuracy '
                "recorded.</div>"
            )
            charts.append(f"<div><div><b>{html.escape(name)}</b></div>{chart}</div>")
        return '<div style="display:flex;flex-wrap:wrap;gap:12px">' + "".join(charts) + "</div>"

    def _fill_versions(self, change: Any = None) -> None:
        history = self._histories.get(self.rollback_model.value, [])
        self.rollback_version.options = [
            (
                f"v{entry.version} ({entry.produced_by or 'saved'}, {entry.created_at[:16]})",
                entry.version,
            )
            for entry in reversed(history)
        ]
        # Preselect the version before the newest: the usual way back.
        if len(history) > 1:
            self.rollback_version.value = history[-2].version
        elif history:
            self.rollback_version.value = history[-1].version

    def _shipped_metrics(self) -> dict:
        folder = self.page.services.models_dir or SHIPPED_MODELS_DIR
        path = Path(folder) / "metrics.json"
        try:
            return json.loads(path.read_text()) if path.exists() else {}
        except ValueError as error:
            self.page.report(f"The file {path} is not valid JSON ({error}).", "warning")
            return {}

    def _confusion(self) -> str:
        """The live models' confusion on held-back MNIST test digits (cached per versions)."""
        recognizer = self.page.services.recognizer
        if recognizer is None:
            return '<div class="dl-empty">No models are loaded.</div>'
        key = tuple(sorted((str(k), str(v)) for k, v in recognizer.versions.items()))
        if self._confusion_cache.get("key") != key:
            from digitlib.evaluation.evaluate import live_confusion

            found = live_confusion(recognizer)
            self._confusion_cache = {
                "key": key,
                "html": f"<div>{100 * found.accuracy:.2f}% read right</div>"
                + render.confusion_matrix_html(found.matrix),
            }
        return self._confusion_cache["html"]

    def show_operator_actions(self) -> None:
        self.rollback_section.layout.display = None

    def hide_operator_actions(self) -> None:
        self.rollback_section.layout.display = "none"
        self._show_rollback_question(False)

    def _show_rollback_question(self, shown: bool) -> None:
        self.rollback_button.layout.display = "none" if shown else None
        for button in (self.confirm_rollback_button, self.cancel_rollback_button):
            button.layout.display = None if shown else "none"

    def _rollback_choice(self) -> tuple[str, Any, str]:
        """The model and version picked, and the item a confirmation is for."""
        name, version = self.rollback_model.value, self.rollback_version.value
        return name, version, f"{name} to version {version}"

    def ask_to_roll_back(self) -> None:
        """Ask to confirm rolling the picked model back to the picked version."""
        self.page.require_operator()
        name, version, item = self._rollback_choice()
        if version is None:
            raise ValueError(f"{name} has no stored versions to roll back to")
        self.page.ask_to_confirm("roll back", item)
        self._show_rollback_question(True)
        self.page.report(f"Roll {item} back? Every reading on this store will use it.", "warning")

    def _drop_rollback_question(self) -> None:
        self.page.cancel("roll back")
        self._show_rollback_question(False)

    def cancel_rollback(self) -> None:
        self._drop_rollback_question()
        self.page.report("Nothing rolled back.")

    def rollback(self) -> None:
        """Roll the picked model back to the picked version: only when that very rollback was
        asked for (``ask_to_roll_back``) and is still pending."""
        name, version, item = self._rollback_choice()
        self.page.confirm("roll back", item)
        self._show_rollback_question(False)
        registry = self.page.services.registry
        if registry is None:
            raise RuntimeError("no model registry is available (see the start-up warning)")
        if version is None:
            raise ValueError(f"{name} has no stored versions to roll back to")
        registry.rollback(name, version)
        self.page.services.sync_models(force=True)
        self.page.report(f"{name} rolled back to version {version}.")
        self.refresh()


def _canvas_summary(metrics: dict) -> str:
    """One line from models/metrics.json about canvas-style digits, if it has them."""
    canvas = metrics.get("canvas_digits") or {}
    exact = canvas.get("text_exact")
    if not isinstance(exact, int | float):
        return ""
    mistakes = sorted((canvas.get("mistakes") or {}).items(), key=lambda item: -item[1])[:3]
    common = ", ".join(f"{html.escape(k)} ({v})" for k, v in mistakes)
    return (
        f"<div><small>Shipped ensemble on {canvas.get('count', '?')} canvas-style digits: "
        f"{100 * exact:.1f}% read exactly"
        + (f"; most common mistakes {common}" if common else "")
        + ".</small></div>"
    )


class DataPanel:
    """The collected drawings: thumbnails, relabel, delete, the review queue, export."""

    page_size = 24

    def __init__(self, page: PanelContext) -> None:
        self.page = page
        guard = page.guard
        self.refresh_button = Button(description="Refresh", icon="refresh")
        self.export_button = Button(description="Export", icon="download")
        self.lock_button = Button(description="Lock", icon="lock")
        self.lock_button.add_class("digitlib-lock")
        self.lock_button.on_click(guard(lambda _: page.lock()))
        self.refresh_button.on_click(guard(lambda _: self.refresh()))
        self.export_button.on_click(guard(lambda _: self.export()))
        self.summary = HTML()
        self.export_link = HTML()
        self.gallery = HBox(layout=Layout(flex_flow="row wrap"))
        self.gallery.add_class("dl-gap")
        self.gallery.add_class("digitlib-gallery")
        self.queue = VBox()
        self.queue.add_class("digitlib-queue")
        self.widget = VBox(
            [
                HBox([self.refresh_button, self.export_button, self.lock_button]),
                self.export_link,
                self.summary,
                self.gallery,
                HTML("<h4>Review queue (labels held for a person to check)</h4>"),
                self.queue,
            ]
        )

    def _drawings(self) -> Any:
        drawings = self.page.services.drawings
        if drawings is None:
            raise RuntimeError("no drawing store is available (see the start-up warning)")
        return drawings

    def refresh(self) -> None:
        self.page.require_operator()
        drawings = self._drawings()
        records = list(drawings.list())
        shown = records[-self.page_size :][::-1]
        self.summary.value = f"{render.plural(len(records), 'drawing')} saved" + (
            f"; the newest {len(shown)} shown." if len(records) > len(shown) else "."
        )
        self.gallery.children = [self._card(record) for record in shown]
        try:
            held = list(drawings.list_held())
        except Exception as error:  # noqa: BLE001
            held = []
            self.page.report(f"The review queue is unavailable ({error}).", "warning")
        self.queue.children = [self._held_row(item) for item in held] or [
            HTML("<i>Nothing to review.</i>")
        ]

    def _card(self, record: Any) -> VBox:
        guard = self.page.guard
        drawing_id = record.id
        predictions = record.predictions if isinstance(record.predictions, dict) else {}
        # Saved from the page: what it read ("text"); accepted from the review queue: what the
        # models read when it was held ("models").
        read = str(predictions.get("text") or predictions.get("models") or "")
        png = self._drawings().get(drawing_id).png
        reading = f"read {html.escape(read)}" if read else "no reading recorded"
        picture = HTML(
            f'<img alt="drawing {html.escape(drawing_id)}" src="{render.png_data_url(png)}"/>'
            f'<div>label <b class="dl-label">{html.escape(record.text)}</b>, {reading}</div>'
        )
        relabel = Text(value=record.text, layout=Layout(width="62px"))
        relabel_button = Button(description="Relabel", layout=Layout(width="76px"))
        delete_button = Button(
            description="Delete", button_style="danger", layout=Layout(width="60px")
        )

        confirm_button = Button(
            description="Delete for good",
            button_style="danger",
            layout=Layout(width="124px", display="none"),
        )
        confirm_button.add_class("digitlib-confirm-delete")
        cancel_button = Button(description="Keep", layout=Layout(width="60px", display="none"))

        def relabel_drawing(_: Any) -> None:
            self.page.require_operator()
            self._drawings().relabel(drawing_id, relabel.value.strip())
            self.page.report(f"Drawing {drawing_id} relabelled {relabel.value.strip()}.")
            self.refresh()

        def ask_to_delete(_: Any) -> None:
            self.page.ask_to_confirm("delete", drawing_id)
            delete_button.layout.display = "none"
            confirm_button.layout.display = cancel_button.layout.display = None
            self.page.report(f"Delete drawing {drawing_id}? It cannot be undone.", "warning")

        def keep(_: Any) -> None:
            self.page.cancel("delete", drawing_id)
            delete_button.layout.display = None
            confirm_button.layout.display = cancel_button.layout.display = "none"
            self.page.report(f"Drawing {drawing_id} kept.")

        def delete_drawing(_: Any) -> None:
            self.page.confirm("delete", drawing_id)  # asked for this drawing, and not answered
            self._drawings().delete(drawing_id)
            self.page.report(f"Drawing {drawing_id} deleted.")
            self.refresh()

        relabel_button.on_click(guard(relabel_drawing))
        delete_button.on_click(guard(ask_to_delete))
        confirm_button.on_click(guard(delete_drawing))
        cancel_button.on_click(guard(keep))
        card = VBox(
            [
                picture,
                HBox([relabel, relabel_button]),
                HBox([delete_button, confirm_button, cancel_button]),
            ]
        )
        card.add_class("dl-thumb")
        card.add_class("digitlib-drawing")
        return card

    def _held_row(self, record: Any) -> VBox:
        guard = self.page.guard
        held_id = record.id
        png = self._drawings().get_held(held_id).png
        accept = Button(description="Accept", button_style="success", layout=Layout(width="70px"))
        reject = Button(description="Reject", button_style="danger", layout=Layout(width="70px"))
        confirm_reject = Button(
            description="Reject for good",
            button_style="danger",
            layout=Layout(width="124px", display="none"),
        )
        confirm_reject.add_class("digitlib-confirm-reject")
        keep = Button(description="Keep", layout=Layout(width="60px", display="none"))

        def show_question(shown: bool) -> None:
            reject.layout.display = "none" if shown else None
            confirm_reject.layout.display = keep.layout.display = None if shown else "none"

        def accept_label(_: Any) -> None:
            self.page.require_operator()
            self.page.learn_in_background(
                lambda learner: learner.accept(held_id, session_id=self.page.session_id),
                f"the held label {record.text}",
            )
            self.refresh()

        def ask_to_reject(_: Any) -> None:
            self.page.ask_to_confirm("reject", held_id)
            show_question(True)
            self.page.report(f"Reject held label {record.text}? It cannot be undone.", "warning")

        def keep_held(_: Any) -> None:
            self.page.cancel("reject", held_id)
            show_question(False)
            self.page.report(f"Held label {record.text} kept for review.")

        def reject_label(_: Any) -> None:
            self.page.confirm("reject", held_id)
            self._drawings().reject(held_id)
            self.page.report(f"Held label {record.text} rejected.")
            self.refresh()

        accept.on_click(guard(accept_label))
        reject.on_click(guard(ask_to_reject))
        confirm_reject.on_click(guard(reject_label))
        keep.on_click(guard(keep_held))
        row = VBox(
            [
                HTML(
                    f'<img style="height:60px;background:#fff;border:1px solid #ccc" '
                    f'src="{render.png_data_url(png)}"/><div>held label '
                    f'<b class="dl-label">{html.escape(record.text)}</b></div>'
                    f'<div style="line-height:1.3"><small>{html.escape(record.reason)}</small></div>'
                ),
                HBox([accept, reject, confirm_reject, keep]),
            ],
            layout=Layout(max_width="340px", margin="0 0 8px 0"),
        )
        row.add_class("dl-thumb")
        row.add_class("digitlib-held")
        return row

    def export(self) -> None:
        import time as _time

        self.page.require_operator()
        from digitlib.config import PROJECT_ROOT

        drawings = self._drawings()
        path = PROJECT_ROOT / "data" / "exports" / _time.strftime("drawings-%Y%m%d-%H%M%S.npz")
        from digitlib.image.segment import extract

        # Drawings saved without their 28x28 segments are cut the way the recognizer cuts them.
        exported = drawings.export(path, extract=extract)
        link = ""
        if path.exists() and path.stat().st_size < 20_000_000:
            import base64

            data = base64.b64encode(path.read_bytes()).decode("ascii")
            link = (
                f' <a download="{path.name}" href="data:application/octet-stream;base64,{data}">'
                "download</a>"
            )
        skipped = (
            f", {render.plural(len(exported.skipped), 'drawing')} skipped "
            f"({exported.skipped[0][1]}, ...)"
            if exported.skipped
            else ""
        )
        self.export_link.value = (
            f"Exported {exported.count} labelled digits{skipped} as "
            f"<code>{html.escape(path.name)}</code>{link}"
        )
        self.page.report(f"Exported {exported.count} labelled digits as {path.name}.")
