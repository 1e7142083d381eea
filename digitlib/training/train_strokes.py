"""Training the stroke model: many hands, every stroke order.

The stroke model (``models.keras_models.build_stroke_model``) reads a segment's pen path
(``digitlib.drawings.strokes.encode``). It learns from every hand the shared data has, never from the
held-out ones (``config.HELD_OUT``):

- digits: the pendigits training writers and the UNIPEN digits of the institutions not held out,
  plus the digit variants of ``digitlib.drawings.styles`` (flagged 1s, crossed 7s, open 4s and 9s,
  slashed 0s) drawn from them;
- "other": UNIPEN letters and signs of those institutions (not the ones a reader may take for a
  digit, ``data.DIGIT_LIKE_CHARACTERS``), Quick, Draw! doodles of the training categories, the
  training letters of the stroke fonts and the training kinds of hand-made signs.

Each epoch sees a fresh variant of every drawing (``strokes.augment``: strokes reversed and
reordered, split and joined, distorted, sparse and jittered, and a third of them restyled as a
finger or a mouse draws, ``styles.restyle``).

The fusion of the stroke model with the image models is chosen on hands that neither training
set holds: ``fusion_drawings`` (``HELD_OUT.fusion_sources`` and
``HELD_OUT.fusion_pendigits_writers``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlib.config import HELD_OUT, OTHER, STROKE_MODEL, HeldOut
from digitlib.drawings import strokes as pen

Drawing = list[np.ndarray]


@dataclass(frozen=True)
class StrokeSettings:
    """How the stroke model is trained. ``reverse`` / ``order``: the chance that a stroke is
    drawn backwards / that the strokes are reordered in a variant (``strokes.augment``);
    ``restyle``: the share of variants drawn as a finger or a mouse would."""

    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 2e-3
    reverse: float = 0.5
    order: float = 0.5
    restyle: float = 0.3
    #: Loss weight of "other" drawings (there are about twice as many as digits).
    other_weight: float = 0.6
    #: Drawings of each training stroke-font letter in each font, and of hand-made signs.
    glyph_copies: int = 4
    sign_count: int = 600
    #: At most this many drawings of each part (quick runs and tests); None for all.
    limit: int | None = None
    #: MNIST training digits (a seeded pick) traced into strokes (``tracing.image_strokes``):
    #: several hundred more writers' shapes; their order and direction are not known, so
    #: ``augment`` gives them random ones.
    mnist_traced: int = 0
    #: ``build_stroke_model(filters=..., dense_units=..., dilated=...)``.
    filters: tuple[int, int, int, int] = (96, 128, 192, 192)
    dense_units: int = 128
    dilated: bool = False


@dataclass
class StrokeSet:
    """Drawings (lists of (P, 2) float arrays, y down), labels int64 (N,) 0-10 and the group of
    each (``"pendigits/<writer>"``, ``"unipen/<institution>"``, ``"quickdraw"``, ...)."""

    drawings: list[Drawing]
    labels: np.ndarray
    groups: list[str]

    def summary(self) -> dict[str, int]:
        return {
            "drawings": len(self.drawings),
            "digits": int((self.labels != OTHER).sum()),
            "other": int((self.labels == OTHER).sum()),
        }


def _take(items: list, limit: int | None) -> list:
    return items[:limit] if limit else items


def unipen_negative(character) -> bool:
    """Whether a UNIPEN "others" record counts as "not a digit"."""
    return character.label < 0 and character.char not in _digit_like()


def _digit_like() -> frozenset:
    from digitlib.drawings.data import DIGIT_LIKE_CHARACTERS

    return DIGIT_LIKE_CHARACTERS


def _variants(drawings: list[Drawing], labels: list[int], rng: np.random.Generator):
    from digitlib.drawings import styles

    makers = {1: styles.flag_one, 7: styles.cross_seven, 4: styles.open_loop}
    makers.update({9: styles.open_loop, 0: styles.slash_zero})
    extra, extra_labels = [], []
    for strokes, label in zip(drawings, labels, strict=True):
        maker = makers.get(label)
        if maker is not None and rng.random() < 0.25:
            extra.append([np.asarray(s, np.float64) for s in maker(strokes, rng)])
            extra_labels.append(label)
    return extra, extra_labels


def training_drawings(
    settings: StrokeSettings = StrokeSettings(),
    held_out: HeldOut = HELD_OUT,
    rng: np.random.Generator | int | None = 0,
) -> StrokeSet:
    """The stroke model's training drawings (see the module docstring)."""
    from digitlib.drawings import data, synthetic

    rng = np.random.default_rng(rng)
    excluded_writers = set(held_out.pendigits_writers) | set(held_out.fusion_pendigits_writers)
    excluded_sources = set(held_out.unipen_sources) | set(held_out.fusion_sources)
    drawings: list[Drawing] = []
    labels: list[int] = []
    groups: list[str] = []

    def add(items: list[Drawing], item_labels: list[int], item_groups: list[str]) -> None:
        drawings.extend([np.asarray(s, np.float64) for s in strokes] for strokes in items)
        labels.extend(item_labels)
        groups.extend(item_groups)

    pendigits = _take(
        [d for d in data.load_pendigits() if d.writer not in excluded_writers], settings.limit
    )
    add(
        [d.strokes for d in pendigits],
        [d.label for d in pendigits],
        [f"pendigits/{d.writer}" for d in pendigits],
    )
    digits = _take(
        [c for c in data.load_unipen("digits") if c.source not in excluded_sources],
        settings.limit,
    )
    add([c.strokes for c in digits], [c.label for c in digits], [c.source for c in digits])
    extra, extra_labels = _variants(drawings[:], labels[:], rng)
    add(extra, extra_labels, ["variants"] * len(extra))
    traced, traced_labels = traced_mnist(settings.mnist_traced, rng)
    add(traced, traced_labels, ["mnist_traced"] * len(traced))
    others = _take(
        [
            c
            for c in data.load_unipen("others")
            if c.source not in excluded_sources and unipen_negative(c)
        ],
        settings.limit,
    )
    add([c.strokes for c in others], [OTHER] * len(others), [c.source for c in others])
    categories = [
        c
        for c in data.quickdraw_categories()
        if c not in set(held_out.quickdraw_categories(data.quickdraw_categories()))
    ]
    doodles = _take(data.load_quickdraw_strokes(categories), settings.limit)
    add([d.strokes for d in doodles], [OTHER] * len(doodles), ["quickdraw"] * len(doodles))
    characters = [
        c
        for c in synthetic.glyph_characters()
        if c not in held_out.glyphs(synthetic.glyph_characters())
    ]
    glyphs = _take(
        synthetic.glyph_drawings(characters, settings.glyph_copies, rng), settings.limit
    )
    add(glyphs, [OTHER] * len(glyphs), ["glyphs"] * len(glyphs))
    kinds = [k for k in synthetic.SIGN_KINDS if k not in held_out.sign_kinds]
    signs = synthetic.sign_drawings(kinds, settings.limit or settings.sign_count, rng)
    add(signs, [OTHER] * len(signs), ["signs"] * len(signs))
    return StrokeSet(drawings, np.asarray(labels, np.int64), groups)


def traced_mnist(count: int, rng: np.random.Generator) -> tuple[list[Drawing], list[int]]:
    """``count`` MNIST training digits, a random pick, traced into strokes (y down, in the
    image's pixels), with their labels. MNIST's test digits are never used."""
    if not count:
        return [], []
    from digitlib.drawings import data
    from digitlib.drawings.tracing import image_strokes

    images, labels = data.load_mnist("train")
    pick = np.sort(rng.permutation(len(images))[:count])
    drawings, kept = [], []
    for index in pick:
        strokes = image_strokes(images[index])
        if strokes:
            drawings.append(strokes)
            kept.append(int(labels[index]))
    return drawings, kept


def fusion_drawings(held_out: HeldOut = HELD_OUT, limit: int | None = None) -> StrokeSet:
    """Drawings of the hands kept out of the stroke model's training to choose the fusion:
    digits of ``held_out.fusion_pendigits_writers`` and of ``held_out.fusion_sources``, and the
    letters and signs of those sources (as "other")."""
    from digitlib.drawings import data

    writers = set(held_out.fusion_pendigits_writers)
    sources = set(held_out.fusion_sources)
    pendigits = _take([d for d in data.load_pendigits() if d.writer in writers], limit)
    digits = _take([c for c in data.load_unipen("digits") if c.source in sources], limit)
    others = _take(
        [c for c in data.load_unipen("others") if c.source in sources and unipen_negative(c)],
        limit,
    )
    drawings = [d.strokes for d in pendigits] + [c.strokes for c in digits + others]
    labels = [d.label for d in pendigits] + [c.label for c in digits] + [OTHER] * len(others)
    groups = [f"pendigits/{d.writer}" for d in pendigits] + [c.source for c in digits + others]
    return StrokeSet(drawings, np.asarray(labels, np.int64), groups)


def variant(strokes: Drawing, settings: StrokeSettings, rng: np.random.Generator) -> np.ndarray:
    """One training variant of a drawing, encoded: float32 (POINTS, CHANNELS)."""
    from digitlib.drawings import styles

    drawn = strokes
    if rng.random() < settings.restyle:
        drawn = styles.restyle(strokes, "finger" if rng.random() < 0.5 else "mouse", rng)
    drawn = pen.augment(drawn, rng, reverse=settings.reverse, order=settings.order)
    return pen.encode(drawn)


def encode_variants(
    stroke_set: StrokeSet, settings: StrokeSettings, rng: np.random.Generator
) -> np.ndarray:
    """A fresh variant of every drawing: float32 (N, POINTS, CHANNELS)."""
    out = np.zeros((len(stroke_set.drawings), pen.POINTS, pen.CHANNELS), np.float32)
    for index, strokes in enumerate(stroke_set.drawings):
        out[index] = variant(strokes, settings, rng)
    return out


def train_stroke_model(
    stroke_set: StrokeSet,
    settings: StrokeSettings = StrokeSettings(),
    *,
    seed: int = 0,
    validation: StrokeSet | None = None,
    progress: Callable[[int, dict], None] | None = None,
    checkpoint: Path | None = None,
):
    """Train the stroke model on ``stroke_set`` with Adam, a fresh variant of every drawing each
    epoch (made in a second thread while the model trains on the last) and a cosine learning
    rate. Returns a ``KerasClassifier`` named "strokes". ``validation``: drawings scored after
    each epoch as they are (``val_accuracy`` in the logs)."""
    import concurrent.futures

    import keras

    from digitlib.models.keras_models import KerasClassifier, build_stroke_model
    from digitlib.training.train import _learning_rate, fit_epoch

    rng = np.random.default_rng([seed, 7])
    keras.utils.set_random_seed(int(rng.integers(2**31)))
    model = build_stroke_model(
        filters=settings.filters, dense_units=settings.dense_units, dilated=settings.dilated
    )
    model.compile(
        optimizer=keras.optimizers.Adam(settings.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    weights = np.where(stroke_set.labels == OTHER, settings.other_weight, 1.0).astype(np.float32)
    validation_inputs = pen.encode_many(validation.drawings) if validation is not None else None
    seeds = rng.integers(2**31, size=settings.epochs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(
            encode_variants, stroke_set, settings, np.random.default_rng(seeds[0])
        )
        for epoch in range(settings.epochs):
            inputs = upcoming.result()
            if epoch + 1 < settings.epochs:
                upcoming = pool.submit(
                    encode_variants, stroke_set, settings, np.random.default_rng(seeds[epoch + 1])
                )
            logs = fit_epoch(
                model,
                inputs,
                stroke_set.labels,
                rate=_learning_rate(settings.learning_rate, epoch, settings.epochs),
                batch_size=settings.batch_size,
                sample_weight=weights,
                validation=None if validation is None else (validation_inputs, validation.labels),
            )
            if checkpoint is not None:
                model.save(checkpoint)
            if progress is not None:
                progress(epoch, logs)
    return KerasClassifier(model, STROKE_MODEL)
