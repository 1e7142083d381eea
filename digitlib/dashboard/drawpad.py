"""The drawing pad: a two-layer ipycanvas that fits its page, its strokes, and the
Clear/Undo/Redo/brush controls.

The pad keeps every point it receives, so the dashboard renders the drawing in Python
(``render.render_drawing``) instead of asking the browser for its pixels: a stroke's end reaches
the recognizer without an image round trip. Ink goes on the lower layer, the reading's boxes on
the upper one, so boxes are never read as ink.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
from ipycanvas import MultiCanvas, hold_canvas
from ipywidgets import Button, HBox, IntSlider, Layout, VBox

INK = "#000000"
DIGIT_BOX = "#1f77b4"
OTHER_BOX = "#8c8c8c"

#: The brush widths a stroke may have, in the drawing's pixels. The slider shows them, but the
#: page can change a slider's min and max (and so its value): strokes are checked against these.
MIN_BRUSH_WIDTH, MAX_BRUSH_WIDTH = 4, 64


def canvas_point(x: object, y: object, size: tuple[int, int]) -> tuple[float, float]:
    """A pointer position sent by the page, as (x, y) canvas pixels inside the canvas.

    ``x`` is the column and ``y`` the row, in canvas pixels, as ipycanvas sends them; ``size``
    is the canvas (height, width). A finite position outside the canvas is clipped to its edge
    (a finger dragged past the edge keeps drawing along it). Raises ``ValueError`` for a
    position that is not a finite number (NaN, Infinity, text): the page never sends one
    unless tampered with, and such a point would end up in the stored drawing.
    """
    height, width = size
    coordinates = []
    for name, value in (("x", x), ("y", y)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(
                f"the pen position {name}={value!r} is not a number; draw on the canvas again"
            )
        if not math.isfinite(value):
            raise ValueError(
                f"the pen position {name}={value!r} is not a finite number; the point was "
                "not drawn, draw on the canvas again"
            )
        coordinates.append(float(value))
    return (
        min(max(coordinates[0], 0.0), float(width)),
        min(max(coordinates[1], 0.0), float(height)),
    )


def check_brush_width(width: object) -> float:
    """``width`` as a float number of pixels, if it is a number from ``MIN_BRUSH_WIDTH`` to
    ``MAX_BRUSH_WIDTH``; else ``ValueError`` saying which widths are allowed."""
    if (
        isinstance(width, bool)
        or not isinstance(width, int | float)
        or not MIN_BRUSH_WIDTH <= width <= MAX_BRUSH_WIDTH  # False for NaN
    ):
        raise ValueError(
            f"the brush width must be {MIN_BRUSH_WIDTH} to {MAX_BRUSH_WIDTH} pixels, got {width!r}"
        )
    return float(width)


class DrawPad:
    """Strokes drawn with a mouse, a finger or a pen on a canvas of ``size`` = (height, width) px.

    ``on_change(reason)`` is called after a stroke ends, after Undo, Redo and Clear, with reason
    ``"stroke"``, ``"undo"``, ``"redo"`` or ``"clear"``. ``guard(function)`` wraps every event handler so that
    its errors reach the page (ipycanvas swallows them otherwise).
    """

    def __init__(
        self,
        size: tuple[int, int] = (480, 680),
        line_width: int = 24,
        *,
        on_change: Callable[[str], None] = lambda reason: None,
        guard: Callable[[Callable], Callable] = lambda function: function,
        display_width: int = 640,
    ) -> None:
        height, width = size
        if not (16 <= height <= 2048 and 16 <= width <= 2048):
            raise ValueError(f"canvas size must be 16..2048 px a side, got {size}")
        self.size = (int(height), int(width))
        self._line_width = check_brush_width(line_width)
        self.on_change = on_change
        self.strokes: list[list[tuple[float, float]]] = []
        self.widths: list[float] = []
        #: Milliseconds since the drawing's first point, one list per stroke (as drawn).
        self.times: list[list[float]] = []
        self._origin: float | None = None
        self._drawing = False
        # ``size`` is the drawing's resolution; on the page the canvas fills the width it is
        # given (up to ``display_width`` CSS pixels), keeping its aspect ratio: large on a
        # desktop, whole on a phone, about 2 canvas pixels per CSS pixel there (sharp on
        # high-DPI screens). ipycanvas maps events back to canvas pixels.
        self.canvas = MultiCanvas(
            2,
            width=width,
            height=height,
            layout=Layout(width="100%", height="auto", max_width=f"{display_width}px"),
        )
        self.canvas.add_class("digitlib-canvas")
        self.ink, self.overlay = self.canvas[0], self.canvas[1]
        self.brush = IntSlider(
            value=line_width,
            min=MIN_BRUSH_WIDTH,
            max=MAX_BRUSH_WIDTH,
            description="Brush",
            readout=True,  # the width in pixels, beside the slider
            layout=Layout(width="210px"),
            style={"description_width": "48px"},
        )
        self.clear_button = Button(description="Clear", icon="eraser", layout=Layout(width="auto"))
        self.undo_button = Button(
            description="Undo", icon="undo", layout=Layout(width="auto"), tooltip="Ctrl+Z"
        )
        self.redo_button = Button(
            description="Redo", icon="repeat", layout=Layout(width="auto"), tooltip="Ctrl+Shift+Z"
        )
        self.clear_button.add_class("digitlib-clear")
        self.undo_button.add_class("digitlib-undo")
        self.redo_button.add_class("digitlib-redo")
        self.clear_button.on_click(guard(lambda _: self.clear()))
        self.undo_button.on_click(guard(lambda _: self.undo()))
        self.redo_button.on_click(guard(lambda _: self.redo()))
        #: Strokes taken back by Undo, newest last: Redo puts them back; a new stroke forgets them.
        self._undone: list[tuple[list, float, list]] = []

        self.canvas.on_mouse_down(guard(self._start))
        self.canvas.on_mouse_move(guard(self._extend))
        self.canvas.on_mouse_up(guard(self._finish))
        self.canvas.on_mouse_out(guard(self._finish))
        self.canvas.on_touch_start(guard(self._touch_start))
        self.canvas.on_touch_move(guard(lambda touches: touches and self._extend(*touches[0])))
        self.canvas.on_touch_end(guard(lambda touches: touches or self._finish()))
        self.canvas.on_touch_cancel(guard(lambda touches: touches or self._finish()))
        self.canvas.on_key_down(guard(self._key))
        # Commands sent before the browser shows the canvas are lost: draw again when it is ready.
        self.canvas.on_client_ready(guard(self.redraw))
        self._boxes: list[tuple[tuple[float, float, float, float], str, bool]] = []

        self.widget = VBox(
            [
                self.canvas,
                HBox(
                    [self.clear_button, self.undo_button, self.redo_button, self.brush],
                    layout=Layout(flex_flow="row wrap", align_items="center"),
                ).add_class("dl-tools"),
            ],
            layout=Layout(width="100%", max_width=f"{display_width + 4}px"),
        )

    # --- the drawing as data --------------------------------------------------------------------

    def stroke_arrays(self) -> list[np.ndarray]:
        """The strokes as (P, 2) float32 arrays of (x, y) canvas pixels."""
        return [np.asarray(points, np.float32).reshape(-1, 2) for points in self.strokes]

    def image(self) -> np.ndarray:
        """The drawing as RGBA uint8 (height, width, 4), exactly as the canvas shows it."""
        from digitlib.dashboard.render import render_drawing

        return render_drawing(self.stroke_arrays(), self.widths, self.size)

    def _now(self) -> float:
        now = time.monotonic()
        if self._origin is None:
            self._origin = now
        return round(1000 * (now - self._origin), 1)

    def stroke_record(self) -> dict:
        """How the drawing was made, for the drawing store (``store.drawings.check_strokes``):
        canvas size, and per stroke its points in order, their times and the brush width."""
        strokes = []
        for points, width, times in zip(self.strokes, self.widths, self.times, strict=True):
            entry = {"points": [list(point) for point in points], "width": width}
            if len(times) == len(points):
                entry["times_ms"] = list(times)
            strokes.append(entry)
        return {"canvas_size": list(self.size), "strokes": strokes}

    @property
    def is_empty(self) -> bool:
        return not self.strokes

    # --- events ---------------------------------------------------------------------------------

    def _start(self, x: float, y: float) -> None:
        # Checked before anything changes: a refused point starts no stroke.
        x, y = canvas_point(x, y, self.size)
        line_width = self._brush_width()
        if self._drawing:  # a second button or finger: finish the open stroke first
            self._finish()
        self._drawing = True
        self._undone.clear()  # a new stroke: what was undone stays undone
        self.strokes.append([(x, y)])
        self.widths.append(line_width)
        self.times.append([self._now()])
        with hold_canvas():
            self._set_pen(line_width)
            self.ink.fill_circle(x, y, line_width / 2)

    def _brush_width(self) -> float:
        """The slider's width, if within the kernel's bounds; else the slider is set back to
        those bounds and the pad's first width, and ``ValueError`` says so."""
        try:
            return check_brush_width(self.brush.value)
        except ValueError as error:
            self.brush.min, self.brush.max = MIN_BRUSH_WIDTH, MAX_BRUSH_WIDTH
            self.brush.value = int(self._line_width)
            raise ValueError(
                f"{error}; the Brush slider is set back to {self.brush.value}, draw again"
            ) from None

    def _touch_start(self, touches: list[tuple[float, float]]) -> None:
        if not touches:
            return
        if self._drawing and len(touches) > 1:
            return  # a second finger while drawing: keep the stroke of the first one
        self._start(*touches[0])

    def _extend(self, x: float, y: float) -> None:
        if not self._drawing:
            return
        x, y = canvas_point(x, y, self.size)
        points = self.strokes[-1]
        last_x, last_y = points[-1]
        if (x - last_x) ** 2 + (y - last_y) ** 2 < 1.0:
            return  # sub-pixel jitter adds points but no ink
        points.append((x, y))
        self.times[-1].append(self._now())
        self.ink.stroke_line(last_x, last_y, x, y)

    def _finish(self, *_: float) -> None:
        if not self._drawing:
            return
        self._drawing = False
        self.on_change("stroke")

    # --- commands -------------------------------------------------------------------------------

    def clear(self) -> None:
        """Remove every stroke and box."""
        self._drawing = False
        self.strokes.clear()
        self.widths.clear()
        self.times.clear()
        self._undone.clear()
        self._origin = None
        self._boxes = []
        with hold_canvas():
            self.ink.clear()
            self.overlay.clear()
        self.on_change("clear")

    def undo(self) -> None:
        """Remove the last stroke."""
        self._drawing = False
        if not self.strokes:
            return
        self._undone.append((self.strokes.pop(), self.widths.pop(), self.times.pop()))
        self.redraw()
        self.on_change("undo")

    def redo(self) -> None:
        """Put back the last stroke Undo took away."""
        self._drawing = False
        if not self._undone:
            return
        points, width, times = self._undone.pop()
        self.strokes.append(points)
        self.widths.append(width)
        self.times.append(times)
        self.redraw()
        self.on_change("redo")

    def _key(self, key: str, shift: bool, ctrl: bool, meta: bool) -> None:
        """Ctrl+Z (Cmd+Z) undoes, Ctrl+Shift+Z or Ctrl+Y redoes."""
        if not (ctrl or meta):
            return
        if key.lower() == "z" and not shift:
            self.undo()
        elif key.lower() in ("z", "y"):
            self.redo()

    def load(self, strokes: list[np.ndarray], widths: list[float]) -> None:
        """Replace the drawing and show it; no ``on_change``.

        ``strokes``: (P, 2) arrays of (x, y) canvas pixels, clipped to the canvas; ``widths``: one
        brush width per stroke, in pixels. Raises ``ValueError`` for a non-finite point or a
        width outside ``MIN_BRUSH_WIDTH``..``MAX_BRUSH_WIDTH``, and changes nothing then.
        """
        if len(strokes) != len(widths):
            raise ValueError(f"got {len(strokes)} strokes but {len(widths)} widths; give one each")
        points = [
            [canvas_point(float(x), float(y), self.size) for x, y in np.asarray(s).reshape(-1, 2)]
            for s in strokes
        ]
        checked = [check_brush_width(float(w)) for w in widths]
        self.strokes, self.widths = points, checked
        self.times = [[] for _ in self.strokes]  # loaded, not drawn: no timing
        self.redraw()

    def redraw(self) -> None:
        """Draw every stroke and box again (after Undo, or when a browser view appears)."""
        with hold_canvas():
            self.ink.clear()
            for points, line_width in zip(self.strokes, self.widths, strict=True):
                self._set_pen(line_width)
                if len(points) == 1:
                    self.ink.fill_circle(points[0][0], points[0][1], line_width / 2)
                else:
                    self.ink.stroke_lines(points)
            self._draw_boxes()

    def show_boxes(self, boxes: list[tuple[tuple[float, float, float, float], str, bool]]) -> None:
        """Draw ``(box, label, is_digit)`` on the overlay layer, replacing the previous ones."""
        self._boxes = list(boxes)
        with hold_canvas():
            self._draw_boxes()

    def _draw_boxes(self) -> None:
        overlay = self.overlay
        overlay.clear()
        overlay.line_width = 2
        overlay.font = "bold 14px sans-serif"
        overlay.text_baseline = "bottom"
        for (x, y, width, height), label, is_digit in self._boxes:
            color = DIGIT_BOX if is_digit else OTHER_BOX
            overlay.stroke_style = color
            overlay.fill_style = color
            overlay.set_line_dash([] if is_digit else [5, 4])
            overlay.stroke_rect(x - 2, y - 2, width + 4, height + 4)
            text_y = y - 3 if y > 18 else y + height + 18
            overlay.fill_text(label, x - 2, text_y)

    def _set_pen(self, line_width: float) -> None:
        # Setting the style with every stroke keeps it right even if the browser view was rebuilt.
        self.ink.line_cap = "round"
        self.ink.line_join = "round"
        self.ink.stroke_style = INK
        self.ink.fill_style = INK
        self.ink.line_width = float(line_width)
