"""Training-set assembly and training loops for the three models.

Pure functions driven by a ``TrainConfig``: they return data and trained models and print
nothing (the command line ``digitlib train`` adds progress bars through the ``progress``
callbacks).

The training set has 11 classes (0-9 and 10 = "other"):

- MNIST train (60,000), augmented afresh every epoch;
- pendigits digits of the training writers (not ``HELD_OUT``) rendered as canvas drawings with
  ``data.random_style`` and turned into model inputs by ``preprocess.to_model_input(
  preprocess.ink_from_image(canvas))``, exactly as at recognition time, several renderings each;
- "other": Quick, Draw! doodles of the categories not held out, rendered the same way; the
  Quick, Draw! 28x28 bitmaps; synthetic non-digits (scribbles, symbols, letters, stars, hearts,
  arrows, hatching, filled blobs) rendered the same way. Digit-like shapes (a circle, a single
  line) are never "other";
- optional extras (``assemble_extras``, off by default): more renderings of the same training-writer digits and
  training-category doodles whose strokes are first rotated, sheared, stretched and wobbled
  (``augment.augment_strokes``) and drawn with a wider range of stroke widths, and synthetic
  round and framed shapes with inner strokes (``SHAPE_KINDS``: clocks, wheels, signs with
  letters, faces, framed boxes, crossings, patterned balls) as "other".
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from digitlib.config import HELD_OUT, NUM_CLASSES, OTHER, PROJECT_ROOT
from digitlib.drawings.styles import slash_zero
from digitlib.drawings.synthetic import (  # learn.py imports the latter
    shape_drawings,
    synthetic_drawings,
)

Progress = Callable[[int, dict], None]

#: Where assembled training sets are cached (git-ignored).
DEFAULT_CACHE_DIR = PROJECT_ROOT / ".cache" / "training"


@dataclass(frozen=True)
class CNNSettings:
    """How the Keras CNN (``models.keras_models.build_cnn``) trains: Adam at ``learning_rate``
    with a cosine schedule, ``epochs`` epochs. ``mnist_weight``: loss weight of the MNIST
    images (1 for every other image): the canvas renderings and extras outnumber MNIST, and with
    weight 1 the CNN fell to 99.42% on the MNIST test set (target 99.5%). 1.5 and 2 both held
    99.6%; 1.5 read canvases better (docs/experiments.md)."""

    epochs: int = 12
    learning_rate: float = 2e-3
    mnist_weight: float = 1.5


@dataclass(frozen=True)
class FNNSettings:
    """How the Keras FNN (``models.keras_models.build_fnn``) trains (Adam, cosine schedule)."""

    epochs: int = 12
    learning_rate: float = 1e-3
    mnist_weight: float = 1.0


@dataclass(frozen=True)
class NumpyFNNSettings:
    """How the NumPy FNN trains: mini-batch SGD with momentum, cosine schedule, L2
    ``weight_decay``; ``layers`` its sizes, input to output."""

    epochs: int = 15
    learning_rate: float = 0.05
    layers: tuple[int, ...] = (784, 256, 128, NUM_CLASSES)
    weight_decay: float = 1e-5


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what ``train_*`` produce (with the seed)."""

    seed: int = 0
    #: Canvas renderings per pendigits digit (training writers only).
    digit_renderings: int = 3
    #: Canvas renderings per Quick, Draw! doodle (categories not held out).
    doodle_renderings: int = 3
    #: Quick, Draw! bitmaps used as "other" (of 18,000).
    bitmap_count: int = 9000
    #: Synthetic non-digits.
    synthetic_count: int = 6000
    #: Extras (``assemble_extras``): stroke-augmented renderings that widen the hands and
    #: doodles the models see (docs/experiments.md gives what each changed).
    #: Extra renderings per training-writer pendigits digit, each of strokes changed first by
    #: ``augment.augment_strokes`` (rotation, shear, stretch, wobble) and with stroke widths
    #: ``extra_width_fraction`` of the canvas.
    extra_digit_renderings: int = 5
    #: Extra stroke-augmented renderings per Quick, Draw! doodle (categories not held out).
    extra_doodle_renderings: int = 3
    #: Synthetic round and framed shapes with inner strokes (``SHAPE_KINDS``: clocks, wheels,
    #: faces, signs with letters, crossings), stroke-augmented, as "other".
    shape_count: int = 4000
    #: Renderings per training-writer 0 with a slash drawn through it (``slash_zero``), as 0:
    #: the slashed zero is a common way to write 0 that neither MNIST nor the training writers
    #: use, and without it the models read it as "other" or 8.
    slashed_zero_renderings: int = 3
    #: The share of those whose slash runs through the loop and out past it (Ø, as many hands
    #: write it; ``slash_zero(through=...)``); the others keep the slash inside the loop. The
    #: shipped models were trained with 0 (docs/experiments.md: what 0.5 bought and cost).
    slashed_zero_through: float = 0.0
    extra_width_fraction: tuple[float, float] = (0.025, 0.08)
    #: Digits and non-digits as people draw them (``assemble_people``):
    #: renderings per training-writer digit, each in a drawing style picked from
    #: ``PEOPLE_STYLES`` (finger, mouse, thick felt pen, thin pen);
    styled_digit_renderings: int = 3
    #: renderings per training-writer 1, 4, 7 and 9 of its variant (``styles.DIGIT_VARIANTS``:
    #: a flagged 1, an open-loop 4 or 9, a crossed 7), in any style;
    variant_renderings: int = 2
    #: MNIST training digits placed on canvases (``data.mnist_canvas``) and made into model
    #: inputs as drawings are, so that the models see MNIST's hands through the canvas recipe;
    #: all of them: with 12,000, while every doodle went through the recipe, its look was a cue
    #: for "other" (``digitlib.evaluation.diagnose``; docs/experiments.md);
    mnist_canvas_count: int = 60000
    #: drawings of each training letter and sign in each Hershey font (``synthetic``), "other";
    glyph_copies: int = 16
    #: hand-made signs of the training sign kinds (``synthetic.SIGN_KINDS``), "other";
    sign_count: int = 2000
    #: two training-writer digits run together into one segment (``synthetic.run_together``),
    #: "other";
    run_together_count: int = 2000
    #: renderings per training-category doodle in a drawing style of ``PEOPLE_STYLES``.
    styled_doodle_renderings: int = 1
    #: Loss weight of the "other" class relative to a digit class: 1.3 gives "other" back the
    #: share of the loss it had before the 48,000 more MNIST canvases (from the class counts).
    other_weight: float = 1.3
    #: Share of the assembled set kept aside to monitor training (not MNIST test, not held out).
    validation_share: float = 0.02
    #: Images per mini-batch, every model.
    batch_size: int = 128
    #: How each model trains.
    cnn: CNNSettings = CNNSettings()
    fnn: FNNSettings = FNNSettings()
    numpy_fnn: NumpyFNNSettings = NumpyFNNSettings()
    #: Canvas sides (pixels) of the training renderings. Smaller than the evaluation's 200-600:
    #: ``to_model_input`` re-draws every drawing at 80 px anyway, and rendering a 600 px canvas
    #: costs ~40 ms on a busy 2-core machine.
    canvas_range: tuple[int, int] = (120, 360)
    #: Processes rendering canvas drawings while assembling the set.
    workers: int = 2

    def settings(self, name: str) -> CNNSettings | FNNSettings | NumpyFNNSettings:
        """The training settings of the model called ``name`` ("cnn", "fnn", "numpy_fnn")."""
        if name not in ("cnn", "fnn", "numpy_fnn"):
            raise ValueError(f"unknown model {name!r}; expected one of cnn, fnn, numpy_fnn")
        return getattr(self, name)

    def with_epochs(self, epochs: int) -> TrainConfig:
        """The same config with every model trained for ``epochs`` epochs."""
        return replace(
            self,
            cnn=replace(self.cnn, epochs=epochs),
            fnn=replace(self.fnn, epochs=epochs),
            numpy_fnn=replace(self.numpy_fnn, epochs=epochs),
        )

    def extras_key(self) -> str:
        """A short hash of the fields that decide the extra (stroke-augmented) data."""
        return self._key(
            {
                "seed",
                "extra_digit_renderings",
                "extra_doodle_renderings",
                "shape_count",
                "slashed_zero_renderings",
                "slashed_zero_through",
                "extra_width_fraction",
                "canvas_range",
            }
        )

    def people_key(self) -> str:
        """A short hash of the fields that decide ``assemble_people``'s data."""
        return self._key(
            {
                "seed",
                "styled_digit_renderings",
                "variant_renderings",
                "mnist_canvas_count",
                "glyph_copies",
                "sign_count",
                "run_together_count",
                "styled_doodle_renderings",
                "canvas_range",
            }
        )

    def data_key(self) -> str:
        """A short hash of the fields that decide the assembled data (for the cache)."""
        return self._key(
            {
                "seed",
                "digit_renderings",
                "doodle_renderings",
                "bitmap_count",
                "synthetic_count",
                "validation_share",
            }
        )

    def _key(self, names: set[str]) -> str:
        fields = {k: v for k, v in asdict(self).items() if k in names}
        fields["code"] = recipe_digest()  # a change to how the data is made is a new key too
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


#: The modules whose code makes the training data. Every cache key holds a digest of them, so
#: a cache is never read for data the current code would make differently: a key made of the
#: config's fields and a hand-bumped version stays the same when a change to the recipe forgets
#: the bump, and a checkout with an older cache would train on other data than a fresh clone's
#: ``make train``.
RECIPE_FILES = tuple(
    Path(__file__).resolve().parent.parent / name
    for name in (
        "training/train.py",
        "drawings/data.py",
        "image/preprocess.py",
        "drawings/synthetic.py",
        "drawings/styles.py",
        "image/augment.py",
        "config.py",
    )
)


def recipe_digest() -> str:
    """A short hash of ``RECIPE_FILES``' bytes (read each call: ~0.2 MB, a few times a run)."""
    digest = hashlib.sha256()
    for path in RECIPE_FILES:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


#: The drawing styles (``styles.STYLES``) that ``assemble_people`` draws in; "pen" is what the
#: other parts draw.
PEOPLE_STYLES = ("finger", "mouse", "thick", "thin")


@dataclass
class TrainingSet:
    """Assembled data: ``images`` float32 (N, 28, 28) in [0, 1], ``labels`` int64 (N,) 0..10,
    ``sources`` (N,) str naming where each image came from; the same for the validation part."""

    images: np.ndarray
    labels: np.ndarray
    sources: np.ndarray
    validation_images: np.ndarray
    validation_labels: np.ndarray

    def summary(self) -> dict[str, int]:
        names, counts = np.unique(self.sources, return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts, strict=True)}


# --- canvas rendering ---------------------------------------------------------------------


def render_to_inputs(
    drawings: Sequence[list[np.ndarray]],
    renderings: int,
    seed: int | np.random.SeedSequence,
    canvas_range: tuple[int, int] = (200, 600),
    augment: bool = False,
    width_fraction: tuple[float, float] = (0.03, 0.07),
    styles: tuple[str, ...] = (),
) -> np.ndarray:
    """Render each drawing's strokes ``renderings`` times on random canvases
    (``data.random_style`` with stroke widths ``width_fraction`` of the canvas) and make model
    inputs the way recognition does (``preprocess.canvas_input``). ``augment``: change the
    strokes of every rendering first (``augment.augment_strokes``). ``styles``: draw every
    rendering in a drawing style picked at random from these (``styles.render_in_style``, which
    sets its own stroke width) instead.

    Returns float32 (len(drawings) * renderings, 28, 28), drawing-major.
    """
    from digitlib.drawings import data
    from digitlib.drawings.styles import render_in_style
    from digitlib.image.augment import augment_strokes
    from digitlib.image.preprocess import canvas_input

    rng = np.random.default_rng(seed)
    outputs = np.zeros((len(drawings) * renderings, 28, 28), np.float32)
    for index, strokes in enumerate(drawings):
        for copy in range(renderings):
            drawn = augment_strokes(strokes, rng) if augment else strokes
            if styles:
                style = str(rng.choice(styles))
                canvas = render_in_style(drawn, style, rng, canvas_range=canvas_range)
            else:
                style = data.random_style(
                    rng, canvas_range=canvas_range, width_fraction=width_fraction
                )
                canvas = data.render_strokes(drawn, style)
            outputs[index * renderings + copy] = canvas_input(canvas)
    return outputs


def render_many(
    drawings: Sequence[list[np.ndarray]],
    renderings: int,
    seed: int,
    workers: int = 1,
    chunk: int = 500,
    canvas_range: tuple[int, int] = (200, 600),
    augment: bool = False,
    width_fraction: tuple[float, float] = (0.03, 0.07),
    styles: tuple[str, ...] = (),
) -> np.ndarray:
    """``render_to_inputs`` over chunks, in ``workers`` processes; the result does not depend
    on ``workers`` (each chunk has its own seed)."""
    chunks = [list(drawings[start : start + chunk]) for start in range(0, len(drawings), chunk)]
    seeds = np.random.SeedSequence(seed).spawn(len(chunks))
    if not chunks:
        return np.zeros((0, 28, 28), np.float32)
    if workers <= 1:
        parts = [
            render_to_inputs(c, renderings, s, canvas_range, augment, width_fraction, styles)
            for c, s in zip(chunks, seeds, strict=True)
        ]
    else:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(
                pool.map(
                    render_to_inputs,
                    chunks,
                    [renderings] * len(chunks),
                    seeds,
                    [canvas_range] * len(chunks),
                    [augment] * len(chunks),
                    [width_fraction] * len(chunks),
                    [styles] * len(chunks),
                )
            )
    return np.concatenate(parts)


def assemble_extras(
    config: TrainConfig = TrainConfig(),
    *,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stroke-augmented part of the training set (all of it trains; none is validation):
    ``config.extra_digit_renderings`` renderings of every training-writer pendigits digit and
    ``config.extra_doodle_renderings`` of every training-category doodle, strokes changed by
    ``augment.augment_strokes`` and stroke widths ``config.extra_width_fraction``, plus
    ``config.shape_count`` synthetic shapes (``SHAPE_KINDS``) as "other", and
    ``config.slashed_zero_renderings`` slashed copies (``slash_zero``) of every training-writer 0.

    Returns (images float32 (N, 28, 28), labels int64 (N,), sources (N,) str); cached in
    ``cache_dir`` by ``config.extras_key()``.
    """
    from digitlib.drawings import data

    cache_path, cached = _cached_part(cache_dir, limit, f"extras-{config.extras_key()}.npz")
    if cached is not None:
        return cached
    seeds = np.random.SeedSequence([config.seed, 7]).spawn(6)
    cut = (lambda items: items[:limit]) if limit else (lambda items: items)
    render = dict(
        workers=config.workers,
        canvas_range=config.canvas_range,
        augment=True,
        width_fraction=config.extra_width_fraction,
    )
    parts: list[tuple[np.ndarray, np.ndarray, str]] = []
    writers = set(HELD_OUT.pendigits_writers)
    pendigits = cut([d for d in data.load_pendigits() if d.writer not in writers])
    if config.extra_digit_renderings:
        inputs = render_many(
            [d.strokes for d in pendigits],
            config.extra_digit_renderings,
            int(seeds[0].generate_state(1)[0]),
            **render,
        )
        labels = np.repeat([d.label for d in pendigits], config.extra_digit_renderings)
        parts.append((inputs, labels.astype(np.int64), "pendigits_canvas_augmented"))
    if config.extra_doodle_renderings:
        categories = data.quickdraw_categories()
        held_out = set(HELD_OUT.quickdraw_categories(categories))
        doodles = cut(data.load_quickdraw_strokes([c for c in categories if c not in held_out]))
        inputs = render_many(
            [d.strokes for d in doodles],
            config.extra_doodle_renderings,
            int(seeds[1].generate_state(1)[0]),
            **render,
        )
        parts.append((inputs, np.full(len(inputs), OTHER), "quickdraw_canvas_augmented"))
    if config.shape_count:
        shapes = shape_drawings(limit or config.shape_count, seeds[2])
        inputs = render_many(shapes, 1, int(seeds[3].generate_state(1)[0]), **render)
        parts.append((inputs, np.full(len(inputs), OTHER), "shapes"))
    if config.slashed_zero_renderings:
        zeros = [d.strokes for d in pendigits if d.label == 0]
        slash_rng = np.random.default_rng(seeds[4])
        slashed = [
            slash_zero(strokes, slash_rng, through=config.slashed_zero_through)
            for strokes in zeros
            for _ in range(config.slashed_zero_renderings)
        ]
        inputs = render_many(slashed, 1, int(seeds[5].generate_state(1)[0]), **render)
        parts.append((inputs, np.zeros(len(inputs), np.int64), "pendigits_slashed_zero"))
    return _joined_part(parts, cache_path)


# --- assembly -----------------------------------------------------------------------------


def assemble_training_set(
    config: TrainConfig = TrainConfig(),
    *,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    limit: int | None = None,
) -> TrainingSet:
    """Build (or read from ``cache_dir``) the 11-class training set described in the module
    docstring, plus the stroke-augmented extras (``assemble_extras``, training part only).
    Held-out pendigits writers and Quick, Draw! categories are never used.

    ``limit``: use at most this many items per source (quick runs and tests; not cached).
    """
    base = _assemble_base(config, cache_dir=cache_dir, limit=limit)
    parts = [
        assemble_extras(config, cache_dir=cache_dir, limit=limit),
        assemble_people(config, cache_dir=cache_dir, limit=limit),
    ]
    parts = [part for part in parts if len(part[0])]
    if not parts:
        return base
    return TrainingSet(
        np.concatenate([base.images, *(p[0] for p in parts)]),
        np.concatenate([base.labels, *(p[1] for p in parts)]),
        np.concatenate([base.sources, *(p[2] for p in parts)]),
        base.validation_images,
        base.validation_labels,
    )


def training_digits(limit: int | None = None) -> list:
    """The pendigits digits of the training writers (every writer not in ``HELD_OUT``), in file
    order; at most ``limit``."""
    from digitlib.drawings import data

    writers = set(HELD_OUT.pendigits_writers)
    digits = [d for d in data.load_pendigits() if d.writer not in writers]
    return digits[:limit] if limit else digits


def training_categories() -> list[str]:
    """The Quick, Draw! categories training uses (every one not in ``HELD_OUT``), sorted."""
    from digitlib.drawings import data

    categories = data.quickdraw_categories()
    held_out = set(HELD_OUT.quickdraw_categories(categories))
    return [c for c in sorted(categories) if c not in held_out]


def assemble_people(
    config: TrainConfig = TrainConfig(),
    *,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digits and non-digits as people draw them (all of it trains):

    - every training writer's digit ``config.styled_digit_renderings`` times, each in a style
      of ``PEOPLE_STYLES`` (``styles.render_in_style``);
    - every training writer's 1, 4, 7 and 9 ``config.variant_renderings`` times as its variant
      (``styles.DIGIT_VARIANTS``), in any style;
    - ``config.mnist_canvas_count`` MNIST training digits on canvases (``data.mnist_canvas``);
    - "other": the training letters and signs of the Hershey fonts (``synthetic.glyph_drawings``
      of the characters not in ``HELD_OUT.glyphs``), ``config.sign_count`` hand-made signs of
      the kinds not held out, ``config.run_together_count`` pairs of training digits run
      together, and every training-category doodle ``config.styled_doodle_renderings`` times in
      a style of ``PEOPLE_STYLES``. Every drawing is stroke-augmented first
      (``augment.augment_strokes``) except the digits in styles.

    Returns (images float32 (N, 28, 28), labels int64 (N,), sources (N,) str); cached in
    ``cache_dir`` by ``config.people_key()``.
    """
    from digitlib.drawings import data, synthetic
    from digitlib.drawings.styles import DIGIT_VARIANTS, STYLES
    from digitlib.image.augment import augment_strokes
    from digitlib.image.preprocess import canvas_input

    cache_path, cached = _cached_part(cache_dir, limit, f"people-{config.people_key()}.npz")
    if cached is not None:
        return cached
    seeds = np.random.SeedSequence([config.seed, 14]).spawn(12)
    seed = [int(s.generate_state(1)[0]) for s in seeds]
    render = dict(workers=config.workers, canvas_range=config.canvas_range)
    parts: list[tuple[np.ndarray, np.ndarray, str]] = []
    digits = training_digits(limit)
    if config.styled_digit_renderings:
        inputs = render_many(
            [d.strokes for d in digits],
            config.styled_digit_renderings,
            seed[0],
            styles=PEOPLE_STYLES,
            **render,
        )
        labels = np.repeat([d.label for d in digits], config.styled_digit_renderings)
        parts.append((inputs, labels.astype(np.int64), "pendigits_styled"))
    if config.variant_renderings:
        variant_rng = np.random.default_rng(seeds[1])
        chosen = [d for d in digits if d.label in (1, 4, 7, 9)]
        variants = [
            augment_strokes(DIGIT_VARIANTS[d.label][0](d.strokes, variant_rng), variant_rng)
            for d in chosen
            for _ in range(config.variant_renderings)
        ]
        inputs = render_many(variants, 1, seed[2], styles=STYLES, **render)
        labels = np.repeat([d.label for d in chosen], config.variant_renderings)
        parts.append((inputs, labels.astype(np.int64), "pendigits_variants"))
    if config.mnist_canvas_count:
        images, labels = data.load_mnist("train")
        count = limit or config.mnist_canvas_count
        pick = np.sort(np.random.default_rng(seeds[3]).permutation(len(images))[:count])
        canvas_rng = np.random.default_rng(seeds[4])
        inputs = np.stack([canvas_input(data.mnist_canvas(images[i], canvas_rng)) for i in pick])
        parts.append((inputs, labels[pick].astype(np.int64), "mnist_canvas"))
    negatives: list = []
    if config.glyph_copies:
        held_out = set(HELD_OUT.glyphs(synthetic.glyph_characters()))
        characters = [c for c in synthetic.glyph_characters() if c not in held_out]
        copies = 1 if limit else config.glyph_copies
        negatives += synthetic.glyph_drawings(characters[: limit or None], copies, seeds[5])
    if config.sign_count:
        kinds = [k for k in synthetic.SIGN_KINDS if k not in HELD_OUT.sign_kinds]
        negatives += synthetic.sign_drawings(kinds, limit or config.sign_count, seeds[6])
    if config.run_together_count:
        pair_rng = np.random.default_rng(seeds[7])
        for _ in range(limit or config.run_together_count):
            first, second = pair_rng.integers(len(digits), size=2)
            pair = synthetic.run_together(digits[first].strokes, digits[second].strokes, pair_rng)
            negatives.append(pair)
    if negatives:
        inputs = render_many(negatives, 1, seed[8], augment=True, styles=STYLES, **render)
        parts.append((inputs, np.full(len(inputs), OTHER), "people_negatives"))
    if config.styled_doodle_renderings:
        doodles = data.load_quickdraw_strokes(training_categories())
        doodles = doodles[:limit] if limit else doodles
        inputs = render_many(
            [d.strokes for d in doodles],
            config.styled_doodle_renderings,
            seed[9],
            styles=PEOPLE_STYLES,
            **render,
        )
        parts.append((inputs, np.full(len(inputs), OTHER), "quickdraw_styled"))
    return _joined_part(parts, cache_path)


def _assemble_base(
    config: TrainConfig,
    *,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    limit: int | None = None,
) -> TrainingSet:
    """The training set without the extras (cached by ``config.data_key()``)."""
    from digitlib.drawings import data

    cache_path = None
    if cache_dir is not None and limit is None:
        cache_path = Path(cache_dir) / f"training-{config.data_key()}.npz"
        if cache_path.exists():
            with np.load(cache_path, allow_pickle=False) as archive:
                return TrainingSet(
                    archive["images"].astype(np.float32) / 255,
                    archive["labels"].astype(np.int64),
                    archive["sources"],
                    archive["validation_images"].astype(np.float32) / 255,
                    archive["validation_labels"].astype(np.int64),
                )
    seeds = np.random.SeedSequence(config.seed).spawn(6)
    cut = (lambda items: items[:limit]) if limit else (lambda items: items)
    parts: list[tuple[np.ndarray, np.ndarray, str]] = []

    mnist_images, mnist_labels = data.load_mnist("train")
    mnist_images, mnist_labels = cut(mnist_images), cut(mnist_labels)
    parts.append((mnist_images.astype(np.float32) / 255, mnist_labels.astype(np.int64), "mnist"))

    writers = set(HELD_OUT.pendigits_writers)
    pendigits = cut([d for d in data.load_pendigits() if d.writer not in writers])
    digit_inputs = render_many(
        [d.strokes for d in pendigits],
        config.digit_renderings,
        int(seeds[0].generate_state(1)[0]),
        config.workers,
        canvas_range=config.canvas_range,
    )
    digit_labels = np.repeat([d.label for d in pendigits], config.digit_renderings)
    parts.append((digit_inputs, digit_labels.astype(np.int64), "pendigits_canvas"))

    categories = data.quickdraw_categories()
    held_out = set(HELD_OUT.quickdraw_categories(categories))
    doodles = cut(data.load_quickdraw_strokes([c for c in categories if c not in held_out]))
    doodle_inputs = render_many(
        [d.strokes for d in doodles],
        config.doodle_renderings,
        int(seeds[1].generate_state(1)[0]),
        config.workers,
        canvas_range=config.canvas_range,
    )
    parts.append((doodle_inputs, np.full(len(doodle_inputs), OTHER), "quickdraw_canvas"))

    bitmaps, _ = data.load_quickdraw_bitmaps()
    pick = np.random.default_rng(seeds[2]).permutation(len(bitmaps))[: config.bitmap_count]
    bitmaps = cut(bitmaps[np.sort(pick)])
    parts.append(
        (bitmaps.astype(np.float32) / 255, np.full(len(bitmaps), OTHER), "quickdraw_bitmaps")
    )

    synthetic = synthetic_drawings(limit or config.synthetic_count, seeds[3])
    synthetic_inputs = render_many(
        synthetic,
        1,
        int(seeds[4].generate_state(1)[0]),
        config.workers,
        canvas_range=config.canvas_range,
    )
    parts.append((synthetic_inputs, np.full(len(synthetic_inputs), OTHER), "synthetic"))

    images, labels, sources = _join_parts(parts)
    order = np.random.default_rng(seeds[5]).permutation(len(images))
    validation_count = int(round(len(images) * config.validation_share))
    validation, training = order[:validation_count], order[validation_count:]
    result = TrainingSet(
        images[training],
        labels[training],
        sources[training],
        images[validation],
        labels[validation],
    )
    _save_part(
        cache_path,
        result.images,
        result.labels,
        result.sources,
        (result.validation_images, result.validation_labels),
    )
    return result


def add_examples(
    training_set: TrainingSet,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    copies: int = 10,
    source: str = "drawings",
) -> TrainingSet:
    """A new training set with extra labelled model inputs (e.g. accepted drawings collected by
    the dashboard), each repeated ``copies`` times (every copy is augmented differently).

    ``images``: float32 (N, 28, 28) in [0, 1]; ``labels``: (N,) ints 0..10.
    """
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels, np.int64)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise ValueError(
            f"examples must be images (N, 28, 28) with labels (N,), got {images.shape} and "
            f"{labels.shape}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError(f"labels must be 0..{NUM_CLASSES - 1}")
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    repeated = np.repeat(images, copies, axis=0)
    return TrainingSet(
        np.concatenate([training_set.images, repeated]),
        np.concatenate([training_set.labels, np.repeat(labels, copies)]),
        np.concatenate([training_set.sources, np.full(len(repeated), source)]),
        training_set.validation_images,
        training_set.validation_labels,
    )


def _cached_part(
    cache_dir: Path | None, limit: int | None, file_name: str
) -> tuple[Path | None, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """Where a training part is cached (None without a cache folder or for a ``limit`` run)
    and, when that file exists, what it holds: (images float32 (N, 28, 28) in [0, 1], labels
    int64 (N,), sources (N,) str)."""
    if cache_dir is None or limit is not None:
        return None, None
    path = Path(cache_dir) / file_name
    if not path.exists():
        return path, None
    with np.load(path, allow_pickle=False) as archive:
        return path, (
            archive["images"].astype(np.float32) / 255,
            archive["labels"].astype(np.int64),
            archive["sources"],
        )


def _join_parts(
    parts: list[tuple[np.ndarray, np.ndarray, str]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images, labels, source name)`` parts -> images float32 (N, 28, 28), labels int64 (N,),
    sources str (N,)."""
    images = np.concatenate([p[0] for p in parts]).astype(np.float32)
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    sources = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
    return images, labels, sources


def _joined_part(
    parts: list[tuple[np.ndarray, np.ndarray, str]], cache_path: Path | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A training part from its ``(images, labels, source name)`` pieces (``_join_parts``),
    cached at ``cache_path`` when there is one (``_save_part``); empty arrays without pieces."""
    if not parts:
        return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64), np.zeros(0, str)
    images, labels, sources = _join_parts(parts)
    _save_part(cache_path, images, labels, sources)
    return images, labels, sources


def _save_part(
    cache_path: Path | None,
    images: np.ndarray,
    labels: np.ndarray,
    sources: np.ndarray,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Cache a training part at ``cache_path`` (nothing when None), as ``_cached_part`` and
    ``_assemble_base`` read it: images float32 (N, 28, 28) in [0, 1] stored as uint8 0-255,
    labels (N,) as uint8, sources (N,) as str, and the base set's ``validation`` (images,
    labels) as ``validation_images`` and ``validation_labels``."""
    if cache_path is None:
        return
    arrays = {
        "images": _to_uint8(images),
        "labels": labels.astype(np.uint8),
        "sources": sources.astype(str),
    }
    if validation is not None:
        arrays["validation_images"] = _to_uint8(validation[0])
        arrays["validation_labels"] = validation[1].astype(np.uint8)
    _save_atomically(cache_path, **arrays)


def _save_atomically(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez`` to a temporary file beside ``path``, then rename: a reader never sees half a
    cache file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, **arrays)
    temporary.replace(path)


def _to_uint8(images: np.ndarray) -> np.ndarray:
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)


def class_weights(config: TrainConfig) -> np.ndarray:
    """Loss weight per class (11,): 1 for digits, ``config.other_weight`` for "other"."""
    weights = np.ones(NUM_CLASSES, np.float32)
    weights[OTHER] = config.other_weight
    return weights


def sample_weights(
    training_set: TrainingSet, config: TrainConfig, mnist_weight: float = 1.0
) -> np.ndarray:
    """Loss weight per training image, float32 (N,): its class's weight (``class_weights``)
    times ``mnist_weight`` for the images whose source is "mnist"."""
    if mnist_weight <= 0:
        raise ValueError(f"mnist_weight must be > 0, got {mnist_weight}")
    by_source = np.where(training_set.sources == "mnist", mnist_weight, 1.0).astype(np.float32)
    return class_weights(config)[training_set.labels] * by_source


class _EpochData:
    """Augments the next epoch's images in a background thread while the current one trains
    (OpenCV releases the GIL), for ``epochs`` epochs (None: as many as asked for).

    No augmentation runs past the last epoch, and the thread is not a daemon: a daemon thread
    still inside OpenCV when the process ended made it abort ("FATAL: exception not rethrown",
    exit status 134) after the models were saved, about one run in three.
    """

    def __init__(
        self, images: np.ndarray, rng: np.random.Generator, epochs: int | None = None
    ) -> None:
        self.images, self.rng = images, rng
        self._remaining = epochs
        self._thread: threading.Thread | None = None
        self._result: np.ndarray | None = None
        self._start()

    def _start(self) -> None:
        from digitlib.image.augment import augment_batch

        # Drawn even when no epoch follows, so the generator's later draws (the trainers'
        # shuffles) are the same as they have always been.
        seed = self.rng.integers(2**63)
        if self._remaining is not None and self._remaining <= 0:
            self._thread = None
            return

        def work():
            self._result = augment_batch(self.images, seed)

        self._thread = threading.Thread(target=work, name="augment-next-epoch")
        self._thread.start()

    def next(self) -> np.ndarray:
        if self._thread is None:
            raise RuntimeError("all the epochs this _EpochData was made for have been taken")
        self._thread.join()
        result = self._result
        if self._remaining is not None:
            self._remaining -= 1
        self._start()
        return result


def _learning_rate(base: float, epoch: int, epochs: int) -> float:
    """Short linear warm-up, then cosine decay to 2% of ``base``."""
    if epoch == 0 and epochs > 3:
        return base * 0.3
    progress = epoch / max(1, epochs - 1)
    return base * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * progress)))


# --- training loops -----------------------------------------------------------------------


def train_keras(
    build: Callable[[], Any],
    training_set: TrainingSet,
    *,
    epochs: int,
    learning_rate: float,
    config: TrainConfig = TrainConfig(),
    rng: np.random.Generator | int | None = None,
    progress: Progress | None = None,
    batch_progress: Callable[[int], None] | None = None,
    mnist_weight: float = 1.0,
):
    """Train the Keras model ``build()`` makes (``build_cnn``/``build_fnn``) with Adam, fresh
    augmentation each epoch and a cosine learning-rate schedule. Returns a ``KerasClassifier``.
    ``mnist_weight``: loss weight of the images whose source is "mnist" (others 1, times the
    class weights of ``class_weights``).

    ``rng`` seeds Keras before the model is built: its initial weights, dropout and shuffles
    all follow from it, so the same seed writes the same model file every run.

    ``progress(epoch, logs)`` is called after each epoch with loss, accuracy, validation
    accuracy, learning rate and seconds; ``batch_progress(batches_done)`` after each batch.
    """
    import keras

    from digitlib.models.keras_models import KerasClassifier

    rng = np.random.default_rng(rng)
    # Before building: the layers draw their initial weights when they are made. (Seeded after
    # the build, every run started from other weights: make train wrote another file each time.)
    keras.utils.set_random_seed(int(rng.integers(2**31)))
    model = build()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    sample_weight = sample_weights(training_set, config, mnist_weight)
    epoch_data = _EpochData(training_set.images, rng, epochs)
    callbacks = []
    if batch_progress is not None:

        class _Batches(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                batch_progress(1)

        callbacks.append(_Batches())
    validation = None
    if len(training_set.validation_images):
        validation = (training_set.validation_images, training_set.validation_labels)
    for epoch in range(epochs):
        logs = fit_epoch(
            model,
            epoch_data.next(),
            training_set.labels,
            rate=_learning_rate(learning_rate, epoch, epochs),
            batch_size=config.batch_size,
            sample_weight=sample_weight,
            validation=validation,
            callbacks=callbacks,
        )
        if progress is not None:
            progress(epoch, logs)
    return KerasClassifier(model)


def fit_epoch(
    model,
    inputs: np.ndarray,
    labels: np.ndarray,
    *,
    rate: float,
    batch_size: int,
    sample_weight: np.ndarray | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    callbacks: list | None = None,
) -> dict:
    """One shuffled epoch of the compiled Keras ``model`` on ``inputs`` and int ``labels`` at
    learning rate ``rate``; ``validation`` (inputs, labels) is scored after it. Returns the
    epoch's logs: loss, accuracy, learning_rate, val_accuracy (with ``validation``) and
    seconds."""
    from digitlib.models.keras_models import KerasClassifier

    started = time.monotonic()
    model.optimizer.learning_rate.assign(rate)
    history = model.fit(
        inputs,
        labels,
        batch_size=batch_size,
        epochs=1,
        verbose=0,
        shuffle=True,
        sample_weight=sample_weight,
        callbacks=callbacks or [],
    )
    logs = {
        "loss": float(history.history["loss"][-1]),
        "accuracy": float(history.history["accuracy"][-1]),
        "learning_rate": rate,
    }
    if validation is not None:
        predicted = KerasClassifier(model).predict_proba(validation[0]).argmax(1)
        logs["val_accuracy"] = float((predicted == validation[1]).mean())
    logs["seconds"] = time.monotonic() - started
    return logs


def train_numpy_fnn(
    training_set: TrainingSet,
    *,
    config: TrainConfig = TrainConfig(),
    rng: np.random.Generator | int | None = None,
    progress: Progress | None = None,
):
    """Train a ``NumpyFNN`` of ``config.numpy_fnn_layers`` with momentum SGD, fresh augmentation
    each epoch and a cosine learning-rate schedule. Returns the model."""
    from digitlib.models.numpy_fnn import NumpyFNN

    rng = np.random.default_rng(rng)
    settings = config.numpy_fnn
    model = NumpyFNN(settings.layers, rng=rng)
    weights = class_weights(config)
    epochs = settings.epochs
    epoch_data = _EpochData(training_set.images, rng, epochs)
    for epoch in range(epochs):
        started = time.monotonic()
        rate = _learning_rate(settings.learning_rate, epoch, epochs)
        loss = model.fit_epoch(
            epoch_data.next(),
            training_set.labels,
            learning_rate=rate,
            batch_size=config.batch_size,
            weight_decay=settings.weight_decay,
            class_weight=weights,
            rng=rng,
        )
        logs = {"loss": loss, "learning_rate": rate}
        if len(training_set.validation_images):
            predicted = model.predict_proba(training_set.validation_images).argmax(1)
            logs["val_accuracy"] = float((predicted == training_set.validation_labels).mean())
        logs["seconds"] = time.monotonic() - started
        if progress is not None:
            progress(epoch, logs)
    return model


def train_model(
    name: str,
    training_set: TrainingSet,
    config: TrainConfig = TrainConfig(),
    *,
    progress: Progress | None = None,
    batch_progress: Callable[[int], None] | None = None,
):
    """Train the model called ``name`` ("cnn", "fnn" or "numpy_fnn") with its own seed derived
    from ``config.seed``. Returns a ``Classifier`` named ``name``."""
    from digitlib.models.keras_models import build_cnn, build_fnn

    names = ("numpy_fnn", "fnn", "cnn")
    if name not in names:
        raise ValueError(f"unknown model {name!r}; expected one of {names}")
    rng = np.random.default_rng([config.seed, names.index(name)])
    if name == "numpy_fnn":
        model = train_numpy_fnn(training_set, config=config, rng=rng, progress=progress)
    else:
        settings = config.settings(name)
        model = train_keras(
            build_cnn if name == "cnn" else build_fnn,
            training_set,
            epochs=settings.epochs,
            learning_rate=settings.learning_rate,
            config=config,
            rng=rng,
            progress=progress,
            batch_progress=batch_progress,
            mnist_weight=settings.mnist_weight,
        )
    model.name = name
    return model
