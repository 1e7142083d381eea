"""The held-out canvas sets the benchmarks read: digits, numbers and doodles nobody trained on.

Drawings come from the pendigits writers and Quick, Draw! categories in
``digitlib.config.HELD_OUT``, rendered as the evaluation protocol renders them
(``digitlib.drawings.data.random_style``: random canvas size, stroke width 3-7 % of the canvas, drawing
height 30-85 %, random position, RGBA on transparent paper or RGB on white). Every set is fixed by
its seed, so every run (and the baseline) reads the same canvases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.harness import Missing


@dataclass(frozen=True)
class CanvasSet:
    """Canvases and the reading expected from each: ``"7"``, ``"40213"``, or ``""`` (a doodle)."""

    name: str
    images: list[np.ndarray]
    expected: list[str]
    #: The strokes each canvas was drawn with (float32 (P, 2) arrays in its pixels), or None.
    strokes: list | None = None

    def __len__(self) -> int:
        return len(self.images)


def _held_out_pendigits() -> dict[int, list]:
    """Held-out writer id -> that writer's ``PenDigit`` records."""
    from digitlib.config import HELD_OUT
    from digitlib.drawings.data import DataNotFoundError, load_pendigits

    try:
        digits = load_pendigits()
    except DataNotFoundError as error:
        raise Missing(f"pendigits data not found: {error}") from error
    writers: dict[int, list] = {}
    for digit in digits:
        if digit.writer in HELD_OUT.pendigits_writers:
            writers.setdefault(digit.writer, []).append(digit)
    if not writers:
        raise Missing(f"no pendigits digits by the held-out writers {HELD_OUT.pendigits_writers}")
    return writers


def digit_canvases(count: int, seed: int = 7) -> CanvasSet:
    """``count`` one-digit canvases drawn by the held-out pendigits writers."""
    from digitlib.drawings.data import random_style, render_strokes
    from digitlib.drawings.strokes import clip_to_image

    rng = np.random.default_rng(seed)
    pool = [digit for digits in _held_out_pendigits().values() for digit in digits]
    picks = rng.choice(len(pool), size=count, replace=count > len(pool))
    images, expected, strokes = [], [], []
    for index in picks:
        digit = pool[int(index)]
        image, drawn = render_strokes(digit.strokes, random_style(rng), traced=True)
        images.append(image)
        strokes.append(clip_to_image(drawn, image.shape))
        expected.append(str(digit.label))
    return CanvasSet("digits", images, expected, strokes)


def number_canvases(count: int, seed: int = 11, lengths: tuple[int, int] = (2, 6)) -> CanvasSet:
    """``count`` numbers of ``lengths`` digits (inclusive), each written by one held-out writer."""
    from digitlib.drawings.data import render_number
    from digitlib.drawings.strokes import clip_to_image

    rng = np.random.default_rng(seed)
    writers = _held_out_pendigits()
    ids = sorted(writers)
    images, expected, strokes = [], [], []
    for _ in range(count):
        digits = writers[ids[int(rng.integers(len(ids)))]]
        length = int(rng.integers(lengths[0], lengths[1] + 1))
        chosen = [digits[int(i)] for i in rng.choice(len(digits), size=length, replace=False)]
        image, drawn = render_number([d.strokes for d in chosen], rng, traced=True)
        images.append(image)
        strokes.append(clip_to_image(drawn, image.shape))
        expected.append("".join(str(d.label) for d in chosen))
    name = "numbers" if lengths[0] != lengths[1] else f"{lengths[0]}-digit numbers"
    return CanvasSet(name, images, expected, strokes)


def doodle_canvases(count: int, seed: int = 13) -> CanvasSet:
    """``count`` Quick, Draw! doodles of the held-out categories; the right reading is ``""``."""
    from digitlib.config import HELD_OUT
    from digitlib.drawings.data import (
        DataNotFoundError,
        load_quickdraw_strokes,
        quickdraw_categories,
        random_style,
        render_strokes,
    )

    rng = np.random.default_rng(seed)
    try:
        categories = HELD_OUT.quickdraw_categories(quickdraw_categories())
        doodles = load_quickdraw_strokes(categories)
    except DataNotFoundError as error:
        raise Missing(f"Quick, Draw! data not found: {error}") from error
    if not doodles:
        raise Missing("no Quick, Draw! doodles in the held-out categories")
    picks = rng.choice(len(doodles), size=count, replace=count > len(doodles))
    images = [render_strokes(doodles[int(i)].strokes, random_style(rng)) for i in picks]
    return CanvasSet("doodles", images, [""] * count)
