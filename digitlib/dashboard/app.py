"""The dashboard: draw, read live, look inside, correct and teach; models, data and about views.

``Dashboard`` holds all of one visitor's state (their drawing, reading and session id); the
recognizer, store and learner come from ``services`` and are shared by every visitor.
"""

from __future__ import annotations

import functools
import html
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from ipywidgets import (
    HTML,
    Button,
    HBox,
    IntProgress,
    Layout,
    Password,
    Tab,
    Text,
    VBox,
)
from traitlets import Unicode

from digitlib.config import OTHER, STROKE_MODEL
from digitlib.dashboard import render
from digitlib.dashboard.access import OperatorOnly, OperatorSession
from digitlib.dashboard.drawpad import DrawPad
from digitlib.dashboard.panels import DataPanel, ModelsPanel, PanelContext
from digitlib.dashboard.services import Services, shared_services

ABOUT = """
<h3>How it works</h3>
<p>You draw on the canvas; when you lift the pen, the drawing is turned into an ink mask, split
into one box per digit (strokes of one digit are merged), and each box is scaled into a 28x28
picture like the MNIST digits the models learned from. Three models read every picture: a small
neural network written in NumPy, a Keras fully connected network and a Keras convolutional network.
Their probabilities are combined into the ensemble's answer, which is the reading; a mark that
looks like no digit is read as "other" and shown in a grey dashed box.</p>
<p>If the reading is wrong, type the right number and press <b>Learn</b>: the models are
fine-tuned on your drawing (with variations of it, mixed with earlier examples so they do not
forget), and the new versions are kept only if they still pass the validation tests. Promoted
models are stored with their history, so everyone's next reading uses them and any version can be
rolled back. <b>Save drawing</b> only keeps the drawing with its labels, to build a data set.</p>
"""


#: The drawing's resolution (rows, columns) and default brush width, in the drawing's pixels.
CANVAS_SIZE = (480, 680)
LINE_WIDTH = 24
#: How often, in seconds, a page in operator mode looks whether it has ended while idle.
OPERATOR_CHECK_SECONDS = 30.0


class Dashboard:
    """One visitor's dashboard. Display it with ``dashboard.widget`` (or just ``dashboard``).

    Parameters
    ----------
    services : Services, optional
        Recognizer, store, registry, drawings and learner; by default the process's shared ones
        for ``store_url`` (``DIGITLIB_STORE``, else ``data/store``) and ``models_dir`` (the
        shipped checkpoints, ``models/`` by default).
    canvas_size : (height, width)
        The drawing's resolution in pixels; on the page the canvas takes the width it has, up to
        640 CSS pixels, and shrinks to fit a 390 px wide phone (about 2 canvas pixels per CSS
        pixel there: sharp on high-DPI screens). ``line_width`` is in the drawing's pixels.
    operator : OperatorSession, optional
        This page's operator mode (a new one, 15 idle minutes long, by default).
    """

    def __init__(
        self,
        services: Services | None = None,
        *,
        store_url: str | None = None,
        models_dir: str | None = None,
        canvas_size: tuple[int, int] = CANVAS_SIZE,
        line_width: int = LINE_WIDTH,
        operator: OperatorSession | None = None,
    ) -> None:
        started = time.perf_counter()
        self.session_id = uuid.uuid4().hex[:12]
        # The status line sits under the reading, beside the canvas; the other views show the
        # same words above them (``views_status``: another widget, so that the page holds one
        # element of class digitlib-status), hidden while the Draw view is open.
        self.status = HTML(layout=Layout(max_width="100%"))
        self.status.add_class("digitlib-status")
        self.views_status = HTML(layout=Layout(max_width="100%", display="none"))
        self.views_status.add_class("digitlib-views-status")
        self.services = (
            services if services is not None else self._load_services(store_url, models_dir)
        )
        self.result: Any = None
        self.last_read_ms: float | None = None
        self._learning = False
        #: This page's operator mode (curation, rollback): on from unlock until Lock or idle.
        self.operator = operator if operator is not None else OperatorSession()
        self.operator_secret: SecretField | None = None
        self._unlock_form: VBox | None = None
        self._operator_watch = threading.Event()  # set: no watch running
        self._operator_watch.set()
        self._filling_correction = False

        self.pad = DrawPad(
            canvas_size,
            line_width,
            on_change=self.guard(self._on_drawing_changed),
            guard=self.guard,
        )
        self.reading = HTML(render.reading_html(""))
        self.reading.add_class("digitlib-reading")
        # Which model versions made the last reading: with several servers on one store, a
        # visitor (and an operator) can see that a promoted version has reached this one.
        self.versions_line = HTML(layout=Layout(max_width="100%"))
        self.versions_line.add_class("digitlib-versions")
        self.correction = Text(
            placeholder="the right number",
            description="Correct:",
            layout=Layout(width="210px"),
            style={"description_width": "64px"},
        )
        self.correction.add_class("digitlib-correction")
        self.correction.observe(self.guard(self._on_correction_typed), "value")
        self.save_button = Button(
            description="Save drawing", icon="save", layout=Layout(width="auto")
        )
        self.learn_button = Button(
            description="Learn",
            icon="graduation-cap",
            button_style="primary",
            layout=Layout(width="auto"),
        )
        self.save_button.on_click(self.guard(lambda _: self.save_drawing()))
        self.learn_button.on_click(self.guard(lambda _: self.start_learning()))
        self.progress = IntProgress(
            value=0,
            min=0,
            max=100,
            description="Learning",
            layout=Layout(width="300px", display="none"),
        )
        self.verdict = HTML(layout=Layout(max_width="100%"))
        self.verdict.add_class("digitlib-verdict")
        self.inspect = HTML()
        self.inspect.add_class("digitlib-inspect")

        # Built when their tab is first opened: fewer widgets and less markup for the page (and
        # for 20 pages opened at once on one machine) to create at start.
        self.models_panel: ModelsPanel | None = None
        self.data_panel: DataPanel | None = None
        # The reading first and large, the status under it beside the canvas; the drawing
        # tools under the canvas, the correction tools in a group of their own; the cards of
        # what the models saw beside all that, in a grid that uses the width it has.
        correct = HBox(
            [self.correction, self.save_button, self.learn_button],
            layout=Layout(flex_flow="row wrap", align_items="center"),
        )
        correct.add_class("dl-group")
        correct.add_class("dl-correct")
        main = VBox(
            [
                self.reading,
                self.status,
                self.pad.widget,
                correct,
                self.progress,
                self.verdict,
                self.versions_line,
            ],
            layout=Layout(flex="0 1 644px", min_width="0"),
        )
        main.add_class("dl-main")
        side = VBox(
            [HTML('<h2 class="dl-section">What the models saw</h2>'), self.inspect],
            layout=Layout(flex="1 1 300px", min_width="0"),
        )
        side.add_class("dl-side")
        draw_view = HBox([main, side], layout=Layout(flex_flow="row wrap"))
        draw_view.add_class("dl-draw")
        # The About view too: its diagram is the page's largest piece of markup.
        self.about: HTML | None = None
        loading = HTML("Loading…")  # one widget shown in the three views not built yet
        self.tabs = Tab(
            children=[draw_view, loading, loading, loading],
            titles=["Draw", "Models", "Data", "About"],
        )
        self.tabs.observe(self.guard(self._on_tab), names="selected_index")
        # The page's look is the Voila template's stylesheet (share/voila/templates/digitlib).
        self.widget = VBox([self.views_status, self.tabs], layout=Layout(max_width="100%"))
        self.widget.add_class("digitlib-dashboard")
        self._warm_up()
        self._report_startup()
        self._announce(time.perf_counter() - started)

    def _warm_up(self) -> None:
        """Read one small drawing, untimed, before the visitor's first: the models' runtimes
        start on first use (LiteRT's interpreters, the saliency's batch of 49 inputs), which
        was 12 of a first reading's 21 ms, and in a preheated kernel this is done before anyone
        comes. A failure here is only logged: the visitor's own reading reports it."""
        recognizer = self.services.recognizer
        if recognizer is None:
            return
        import numpy as np

        image = np.full((96, 96), 255, np.uint8)
        image[16:80, 44:52] = 0  # a "1"
        strokes = [np.array([[48.0, 16.0], [48.0, 79.0]])]
        try:
            result = recognizer.recognize(image, strokes=strokes)
            saliency = [recognizer.explain(segment) for segment in result.segments]
            render.segment_cards_html(result.segments, saliency, strokes)
        except Exception as error:  # noqa: BLE001 - logged; the first real reading reports it
            print(f"[digitlib] warm-up reading failed: {error}", file=sys.__stderr__, flush=True)

    @staticmethod
    def _announce(seconds: float) -> None:
        # One line in the server's log (the kernel's own stderr, not the page) per dashboard
        # built: operators see when a preheated kernel is ready, and so do the browser tests.
        print(
            f"[digitlib] dashboard ready in {seconds:.1f} s (kernel pid {os.getpid()})",
            file=sys.__stderr__,
            flush=True,
        )

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # --- errors and status ------------------------------------------------------------------------

    def report(self, message: str, level: str = "info") -> None:
        """Show ``message`` in the status line (level ``info``, ``warning`` or ``error``)."""
        css = {"error": "dl-error", "warning": "dl-warning"}.get(level, "dl-info")
        text = html.escape(render.sentence(message))
        self.status.value = self.views_status.value = f'<span class="{css}">{text}</span>'

    def guard(self, function: Callable) -> Callable:
        """Wrap a widget callback so that its errors show in the status line, not vanish."""

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - shown to the visitor, not swallowed
                self.report(plain_message(error), "error")
                traceback.print_exc()  # lands in the server log, with the details
                return None

        return guarded

    def _load_services(self, store_url: str | None, models_dir: str | None) -> Services:
        # The page must still load when the models do not: the status line says what is wrong.
        try:
            return shared_services(store_url, models_dir)
        except Exception as error:  # noqa: BLE001
            traceback.print_exc()
            return Services(None, problems=[f"No models could be loaded. {plain_message(error)}"])

    def _report_startup(self) -> None:
        problems = list(self.services.problems)
        problems += [str(w) for w in getattr(self.services.recognizer, "warnings", []) or []]
        if self.services.recognizer is None:
            self.report("; ".join(problems), "error")
        elif problems:
            self.report("Ready, with warnings: " + "; ".join(problems), "warning")
        else:
            self.report("Ready: draw a number.")

    # --- reading ----------------------------------------------------------------------------------

    def _on_drawing_changed(self, reason: str) -> None:
        if not self._learning:  # a new drawing: the last verdict was about another one
            self.verdict.value = ""
        self.read()

    def read(self) -> None:
        """Read the current drawing and show the reading, the boxes and what the models saw."""
        started = time.perf_counter()
        if self.pad.is_empty:
            self.result = None
            self.reading.value = render.reading_html("")
            self._fill_correction("")
            self.inspect.value = ""
            self.versions_line.value = ""
            self.pad.show_boxes([])
            self.report("Canvas cleared.")
            return
        if self.services.recognizer is None:
            raise RuntimeError(f"cannot read: {'; '.join(self.services.problems)}")
        swapped = self.services.sync_models()
        recognizer = self.services.recognizer
        versions = dict(recognizer.versions)
        if recognizer.stroke_model is not None:
            versions[STROKE_MODEL] = recognizer.stroke_version
        drawn = self.pad.stroke_arrays()
        result = self.services.recognizer.recognize(self.pad.image(), strokes=drawn)
        self.result = result
        # The reading first: each update below is a message the page handles in turn, and on
        # a busy machine (a class arriving at once) the reading is what the visitor waits for.
        self.reading.value = render.reading_html(result.text)
        self.last_read_ms = 1000 * (time.perf_counter() - started)
        self.pad.show_boxes(
            [
                (
                    seg.box,
                    render.class_name(seg.label) if seg.label != OTHER else "?",
                    seg.label != OTHER,
                )
                for seg in result.segments
            ]
        )
        self.versions_line.value = f"<small>{html.escape(render.versions_text(versions))}</small>"
        self._fill_correction(
            "".join("?" if seg.label == OTHER else str(seg.label) for seg in result.segments)
        )
        recognizer = self.services.recognizer
        saliency = (
            [recognizer.explain(segment) for segment in result.segments]
            if hasattr(recognizer, "explain")
            else None
        )
        self.inspect.value = render.segment_cards_html(result.segments, saliency, drawn)
        # The stroke count makes every stroke's line new (a line equal to the last one would not
        # reach the page, and nothing would show that the stroke was read).
        others = sum(1 for seg in result.segments if seg.label == OTHER)
        message = render.reading_status(
            len(result.segments) - others, others, len(self.pad.strokes), self.last_read_ms
        )
        if swapped:
            message += f" Now using the registry's current {', '.join(swapped)}."
        self.report(message)

    # --- correcting and teaching -----------------------------------------------------------------

    def _labels(self) -> str:
        labels = self.correction.value.strip().replace(" ", "")
        if self.pad.is_empty:
            raise ValueError("draw a number first")
        if not labels:
            raise ValueError("type the right number in the Correct field first")
        # Only ASCII 0-9: str.isdigit() also passes "²" and "٣", which are no labels here.
        if not all(c in "0123456789?" for c in labels):
            raise ValueError(
                f"the correction {labels!r} should be digits 0-9, one per mark (use ? for a "
                "non-digit mark)"
            )
        return labels

    def save_drawing(self) -> None:
        """Store the drawing with the corrected labels and the current reading."""
        labels = self._labels()
        drawings = self.services.drawings
        if drawings is None:
            raise RuntimeError("no drawing store is available (see the start-up warning)")
        from digitlib.dashboard.render import png_bytes

        image = self.pad.image()
        result = self.result
        predictions = segments = None
        if result is not None:
            predictions = {
                "text": result.text,
                "labels": [int(seg.label) for seg in result.segments],
            }
            if len(result.segments) == len(labels):
                segments = [seg.image for seg in result.segments]
        record = drawings.save(
            png_bytes(image),
            labels,
            predictions=predictions,
            session_id=self.session_id,
            segments=segments,
            strokes=self.pad.stroke_record(),
        )
        store = self.services.store
        if getattr(store, "offline", False):
            waiting = len(store.pending()) if hasattr(store, "pending") else 0
            self.report(
                f"Saved on this server: the store cannot be reached right now, so your drawing "
                f"(labelled {labels}) is kept here ({render.plural(waiting, 'change')} waiting) "
                "and uploaded as soon as the store is back.",
                "warning",
            )
            return
        self.report(f"Saved drawing {record.id} labelled {labels}.")

    def _on_correction_typed(self, change: dict) -> None:
        # Only a visitor's own typing: the page fills the field with each reading too.
        if change["new"].strip() and not self._filling_correction:
            self.services.prepare_learning()

    def _fill_correction(self, text: str) -> None:
        self._filling_correction = True
        try:
            self.correction.value = text
        finally:
            self._filling_correction = False

    def _show_preparation(self, step: str, fraction: float) -> None:
        """Progress of a first learn's preparation (``OnlineLearner.prepare``)."""
        if fraction < 1:
            self.progress.value = max(self.progress.value, int(60 * fraction))
            self.verdict.value = (
                f"<i>Getting ready to learn (only the first time): {html.escape(step)}…</i>"
            )

    def start_learning(self) -> None:
        """Fine-tune on the drawing with the corrected labels (the stroke model on its strokes);
        the verdict shows when done."""
        labels = self._labels()
        image = self.pad.image()
        strokes = self.pad.stroke_arrays() or None
        self.learn_in_background(
            lambda learner: learner.learn(
                image,
                labels=labels,
                session_id=self.session_id,
                progress=self._show_preparation,
                strokes=strokes,
            ),
            f"that this reads {labels}",
        )

    def learn_in_background(self, call: Callable[[Any], Any], what: str) -> None:
        """Run ``call(learner)`` in a thread, with the progress bar, then show its ``Update``.

        A thread keeps the page drawing and reading while the models train; widgets are only
        updated from it (no canvas drawing: ipycanvas batches commands process-wide).
        """
        if self._learning:
            raise RuntimeError("still learning from the last correction; wait for its verdict")
        learner = self.services.get_learner()
        self._learning = True
        self.learn_button.disabled = True
        self.progress.value = 0
        self.progress.layout.display = None
        self.verdict.value = f"<i>Learning {html.escape(what)}…</i>"
        self.report(f"Learning {what}…")
        done = threading.Event()
        threading.Thread(
            target=self._learn, args=(learner, call, done), name="digitlib-learn", daemon=True
        ).start()
        threading.Thread(
            target=self._tick, args=(done,), name="digitlib-progress", daemon=True
        ).start()

    def _tick(self, done: threading.Event) -> None:
        # The learner reports no progress; an estimate that slows down keeps the bar moving.
        started = time.monotonic()
        while not done.wait(0.5):
            elapsed = time.monotonic() - started
            self.progress.value = int(95 * elapsed / (elapsed + 15))

    def _learn(self, learner: Any, call: Callable[[Any], Any], done: threading.Event) -> None:
        try:
            update = call(learner)
            self.verdict.value = verdict_html(update)
            if update.promoted:
                outcome = "Promoted new model versions"
            elif update.held:
                outcome = "Held for review"
            else:
                outcome = "Models kept as they were"
            self.report(f"{outcome} after {update.seconds:.1f} s.")
        except Exception as error:  # noqa: BLE001 - a thread's errors go to the page too
            message = plain_message(error, doing="learn from this drawing")
            self.verdict.value = f'<span class="dl-verdict-no">{html.escape(message)}</span>'
            self.report(message, "error")
            traceback.print_exc()
        finally:
            done.set()
            self.progress.value = 100
            self.progress.layout.display = "none"
            self.learn_button.disabled = False
            self._learning = False

    # --- tabs -------------------------------------------------------------------------------------

    def _on_tab(self, change: dict) -> None:
        index = change["new"]
        self.views_status.layout.display = "none" if index == 0 else None
        if index == 1:
            if self.models_panel is None:
                self.models_panel = ModelsPanel(self._panel_context())
                self._set_tab(1, self.models_panel.widget)
            if not self.is_operator:
                self.models_panel.hide_operator_actions()
            self.models_panel.refresh()
        elif index == 2:
            if not self.is_operator:
                self._close_operator_views()
                return
            if self.data_panel is None:
                self.data_panel = DataPanel(self._panel_context())
                self._set_tab(2, self.data_panel.widget)
            self.data_panel.refresh()
        elif index == 3 and self.about is None:
            self.about = HTML(ABOUT + render.pipeline_svg(), layout=Layout(max_width="720px"))
            self._set_tab(3, self.about)

    # --- operator mode ----------------------------------------------------------------------------

    @property
    def is_operator(self) -> bool:
        """Whether this page's visitor unlocked operator mode and it has not ended."""
        return self.operator.active

    def _operator_form(self) -> Any:
        """What a visitor sees in the Data view: how to unlock it, or that it is off."""
        if self._unlock_form is not None:
            return self._unlock_form
        gate = self.services.operator
        intro = HTML(
            "<p>Curating the collected drawings (relabel, delete, the review queue, export) "
            "and rolling models back are for the operator of this server.</p>"
        )
        if gate is None or not gate.enabled:
            form = VBox(
                [
                    intro,
                    HTML(
                        "<p><i>Operator actions are off on this server. Whoever runs it can "
                        "turn them on by starting it with DIGITLIB_OPERATOR_SECRET set.</i></p>"
                    ),
                ]
            )
        else:
            secret = self.operator_secret = SecretField(
                placeholder="operator secret", layout=Layout(width="220px")
            )
            secret.add_class("digitlib-operator-secret")
            unlock = Button(description="Unlock", icon="unlock", layout=Layout(width="100px"))
            unlock.add_class("digitlib-unlock")
            unlock.on_click(self.guard(lambda _: self.unlock(secret.take())))
            form = VBox([intro, HBox([self.operator_secret, unlock])])
        form.add_class("digitlib-operator")
        self._unlock_form = form
        return form

    def unlock(self, secret: str) -> bool:
        """Unlock operator mode for this page with the server's operator secret."""
        gate = self.services.operator
        problem = gate.check(secret) if gate is not None else "operator actions are off"
        if self.operator_secret is not None:
            self.operator_secret.take()  # never kept in the page
        if problem:
            self.report(f"Not unlocked: {problem}.", "warning")
            return False
        self.operator.start()
        self._watch_operator_mode()
        minutes = self.operator.idle_seconds / 60
        self.report(
            "Operator mode: the Data view and model rollback are unlocked until you press Lock "
            f"or leave them {minutes:g} minutes idle."
        )
        if self.models_panel is not None:
            self.models_panel.show_operator_actions()
        if self.tabs.selected_index == 2:
            self._on_tab({"new": 2})
        return True

    def lock(self) -> None:
        """End operator mode on this page: the Data view and rollback are hidden again."""
        self.operator.lock()
        self._operator_watch.set()
        self._close_operator_views()
        self.report("Operator mode locked.")

    def _watch_operator_mode(self) -> None:
        # An unattended screen: once operator mode has ended, the drawings leave the page too,
        # not only the kernel's state (which refuses every operator action by itself).
        self._operator_watch.set()
        stop = self._operator_watch = threading.Event()
        close = self.guard(self.close_ended_operator_mode)

        def watch() -> None:
            while not stop.wait(OPERATOR_CHECK_SECONDS):
                if close() is not False:
                    return

        threading.Thread(target=watch, name="digitlib-operator-idle", daemon=True).start()

    def close_ended_operator_mode(self) -> bool:
        """Close the operator's views if operator mode has ended (idle); whether it has."""
        if self.operator.active:
            return False
        if self.data_panel is not None or (
            self.models_panel is not None
            and self.models_panel.rollback_section.layout.display != "none"
        ):
            self._close_operator_views()
            minutes = self.operator.idle_seconds / 60
            self.report(
                f"Operator mode ended after {minutes:g} idle minutes; unlock it again.",
                "warning",
            )
        return True

    def _close_operator_views(self) -> None:
        # The Data view's widgets are dropped, not hidden: the next unlock builds them anew.
        self.data_panel = None
        self._set_tab(2, self._operator_form())
        if self.models_panel is not None:
            self.models_panel.hide_operator_actions()

    def _operator_call(self, call: Callable[..., None], *args: str) -> None:
        # Operator mode that ended (idle) closes its views as it refuses the action.
        try:
            call(*args)
        except OperatorOnly:
            self._close_operator_views()
            raise

    def require_operator(self) -> None:
        """Raise ``OperatorOnly`` unless this page's operator mode is on (checked where each
        operator action runs, not only by hiding its button); each call is an operator action
        that keeps it on."""
        self._operator_call(self.operator.require)

    def ask_to_confirm(self, action: str, item: str) -> None:
        """Note, in this kernel, that the page now asks to confirm ``action`` on ``item``."""
        self._operator_call(self.operator.ask, action, item)

    def confirm(self, action: str, item: str) -> None:
        """Raise unless operator mode is on and the confirmation of ``action`` on ``item`` is
        the one pending (``NotConfirmed``: a click on a confirmation never asked for)."""
        self._operator_call(self.operator.confirm, action, item)

    def _panel_context(self) -> PanelContext:
        return PanelContext(
            services=self.services,
            guard=self.guard,
            report=self.report,
            require_operator=self.require_operator,
            is_operator=lambda: self.is_operator,
            ask_to_confirm=self.ask_to_confirm,
            confirm=self.confirm,
            cancel=self.operator.cancel,
            lock=self.lock,
            learn_in_background=self.learn_in_background,
            session_id=self.session_id,
        )

    def _set_tab(self, index: int, widget: Any) -> None:
        children = list(self.tabs.children)
        children[index] = widget
        self.tabs.children = children


class SecretField(Password):
    """A password box whose value the kernel takes as it arrives and never sends back.

    The page sends the value once, when the box loses focus (pressing Unlock) or on Enter,
    never per keystroke; the kernel keeps it out of the widget's state at once (the box reads
    "" again for every connection to the kernel, each told only that) and without the echo
    ipywidgets sends of a page's change to the kernel's other connections. ``take()`` hands it
    over once.
    """

    value = Unicode("", help="Always '' in the kernel: what the page sent is kept apart.").tag(
        sync=True, echo_update=False
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(continuous_update=False, **kwargs)
        self._typed = ""
        self.observe(self._keep_apart, names="value")

    def _keep_apart(self, change: dict) -> None:
        if change["new"]:
            self._typed = change["new"]
            self.value = ""

    def take(self) -> str:
        """What the page sent last, once; '' after."""
        typed, self._typed = self._typed, ""
        return typed


def plain_message(error: Exception, doing: str = "") -> str:
    """What to tell a visitor about ``error``, in words and as a sentence: no exception class
    names, no file paths, no function names (the server log keeps the details)."""
    from digitlib.store import StoreError, StoreUnavailable

    if isinstance(error, StoreUnavailable):
        what = f"Could not {doing}: t" if doing else "T"
        return (
            f"{what}he store that keeps drawings and models cannot be reached right now. "
            "Drawings are still read; try again in a moment."
        )
    if isinstance(error, StoreError):
        what = f"Could not {doing}: the" if doing else "The"
        return f"{what} store answered with a problem. The server log has the details."
    if isinstance(error, ValueError | RuntimeError | PermissionError):  # ours say what to do
        text = str(error)
        return render.sentence(f"Could not {doing}: {text}" if doing else text)
    what = f"Could not {doing}" if doing else "Something went wrong"
    return f"{what}. The server log has the details."


def verdict_html(update: Any) -> str:
    """The learner's verdict (a ``digitlib.learn.Update``): which models learned the correction
    and which kept as they were, and why, with the gate's figures."""
    kept = dict(update.kept or {})
    if update.promoted:
        learned = ", ".join(update.promoted_models) or "the models"
        head = f'<div class="dl-verdict-ok">Promoted: {html.escape(learned)} learned your correction.</div>'
        if kept:
            head += (
                "<div>Kept as they were: "
                + "; ".join(
                    f"{html.escape(name)} ({html.escape(reason)})" for name, reason in kept.items()
                )
                + ".</div>"
            )
        reason = ""
    else:
        if update.held:
            head = '<div class="dl-verdict-no">Held for review (see the Data view), not learned.</div>'
        else:
            head = '<div class="dl-verdict-no">Not promoted: the models stay as they were.</div>'
        reason = f"<div>{html.escape(str(update.reason))}</div>" if update.reason else ""
    metrics = update.metrics
    validation, segments = metrics.validation, metrics.segments
    rows = []
    for name in [*validation, *[n for n in segments if n not in validation]]:
        figures = validation.get(name)
        segment = segments.get(name)
        rows.append(
            (
                name,
                _change(figures.before, figures.after) if figures else "",
                _change(segment.before, segment.after) if segment else "",
                f"{segment.reading_before} → {segment.reading_after}" if segment else "",
            )
        )
    table = (
        render.table_html(
            rows, ("model", "validation accuracy", "your labels' probability", "read")
        )
        if rows
        else ""
    )
    versions = ", ".join(f"{name} {version}" for name, version in (update.versions or {}).items())
    footer = (
        f"<div><small>{float(update.seconds):.1f} s; live: {html.escape(versions)}</small></div>"
    )
    return head + reason + table + footer


def _change(before: Any, after: Any) -> str:
    if not isinstance(before, int | float) or not isinstance(after, int | float):
        return ""
    return f"{100 * before:.1f}% → {100 * after:.1f}%"
