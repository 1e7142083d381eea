"""The data every update needs and no drawing changes: the gate's fixed validation set and the
pool replay samples are drawn from, built once per spec, cached on disk and shared through the
store (``share_cache``), and the MNIST rows the gate never sees (``mnist_evaluation_set``)."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlib.config import HELD_OUT, OTHER, PROJECT_ROOT
from digitlib.learn.config import ReplaySpec, StrokeSpec, ValidationSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabeledImages:
    """Model inputs with their labels and the part of the set each comes from.

    ``images``: float32 (N, 28, 28) in [0, 1] for the image models, or float32 (N, 64, 6)
    encoded strokes for the stroke model (``digitlib.drawings.strokes.encode``); ``labels``
    int64 (N,); ``sources`` (N,) str.
    """

    images: np.ndarray
    labels: np.ndarray
    sources: np.ndarray


#: Bumped when the validation set or replay pool are built differently (invalidates caches).
DATA_VERSION = 1
#: Where built validation sets and replay pools are cached (git-ignored).
DEFAULT_CACHE_DIR = PROJECT_ROOT / ".cache" / "learn"


def _render_inputs(drawings: Sequence[list[np.ndarray]], seed: int) -> np.ndarray:
    """Render each drawing once on a random dashboard-sized canvas (200-320 px a side, random
    stroke width and placement) and make its model input as recognition does."""
    from digitlib.drawings import data
    from digitlib.image import preprocess

    rng = np.random.default_rng(seed)
    outputs = np.zeros((len(drawings), 28, 28), np.float32)
    for index, strokes in enumerate(drawings):
        style = data.random_style(rng, canvas_range=(200, 320))
        outputs[index] = preprocess.to_model_input(
            preprocess.ink_from_image(data.render_strokes(strokes, style))
        )
    return outputs


def _rendered_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from digitlib.drawings import data

    writers = set(HELD_OUT.pendigits_writers)
    digits = [d for d in data.load_pendigits() if d.writer not in writers]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(digits), size=min(count, len(digits)), replace=False))
    images = _render_inputs([digits[i].strokes for i in pick], int(rng.integers(2**31)))
    return images, np.array([digits[i].label for i in pick], np.int64)


def _rendered_others(count: int, seed: int) -> np.ndarray:
    from digitlib.drawings import data
    from digitlib.training.train import synthetic_drawings

    rng = np.random.default_rng(seed)
    categories = data.quickdraw_categories()
    held_out = set(HELD_OUT.quickdraw_categories(categories))
    doodles = data.load_quickdraw_strokes([c for c in categories if c not in held_out])
    doodle_count = count - count // 4
    pick = np.sort(rng.choice(len(doodles), size=min(doodle_count, len(doodles)), replace=False))
    drawings = [doodles[i].strokes for i in pick]
    drawings += synthetic_drawings(count - len(drawings), int(rng.integers(2**31)))
    return _render_inputs(drawings, int(rng.integers(2**31)))


def _assemble(
    mnist: tuple[np.ndarray, np.ndarray], canvas: int, other: int, seed: int, cache: Path | None
) -> LabeledImages:
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as archive:
            return LabeledImages(
                archive["images"].astype(np.float32) / 255,
                archive["labels"].astype(np.int64),
                archive["sources"],
            )
    seeds = np.random.SeedSequence(seed).generate_state(2)
    parts = [(mnist[0], mnist[1], "mnist")]
    if canvas:
        parts.append((*_rendered_digits(canvas, int(seeds[0])), "canvas"))
    if other:
        others = _rendered_others(other, int(seeds[1]))
        parts.append((others, np.full(len(others), OTHER, np.int64), "other"))
    images = np.concatenate([p[0] for p in parts]).astype(np.float32)
    # Stored and returned as 8-bit levels, so a set read from the cache is the same as a fresh one.
    pixels = np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)
    result = LabeledImages(
        pixels.astype(np.float32) / 255,
        np.concatenate([p[1] for p in parts]).astype(np.int64),
        np.concatenate([np.full(len(p[0]), p[2]) for p in parts]),
    )
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_name(f".{uuid.uuid4().hex}.tmp.npz")
        np.savez(
            temporary,
            images=pixels,
            labels=result.labels.astype(np.uint8),
            sources=result.sources.astype(str),
        )
        temporary.replace(cache)
    return result


#: Store prefix where built validation sets and replay pools are shared between servers.
STORE_CACHE_PREFIX = "learn/cache/"


def share_cache(store, spec, kind: str, cache_dir: Path | None = DEFAULT_CACHE_DIR) -> str:
    """Make the built ``kind`` ("validation" or "replay") set of ``spec`` the same on this
    machine and in ``store``: fetched from the store when this machine has not built it, put
    there when this machine has and the store has not. Returns "fetched", "shared" or "".

    Building a set renders thousands of drawings (seconds); every later server and kernel then
    reads it in milliseconds, so a first Learn does not pay for it.
    """
    path = _cache_path(kind, spec, cache_dir)
    if path is None:
        return ""
    key = STORE_CACHE_PREFIX + path.name
    try:
        if not path.is_file():
            data = store.get(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{uuid.uuid4().hex}.tmp.npz")
            temporary.write_bytes(data)
            temporary.replace(path)
            return "fetched"
        if key not in store.list(STORE_CACHE_PREFIX):
            store.put(key, path.read_bytes())
            return "shared"
    except KeyError:  # not in the store yet: this machine builds it
        return ""
    except Exception as error:  # noqa: BLE001 - a cache is never worth failing a learn
        log.warning("learning cache %s not shared with the store: %s", key, error)
    return ""


def _cache_path(kind: str, spec, cache_dir: Path | None) -> Path | None:
    if cache_dir is None:
        return None
    fields = "-".join(f"{key}{value}" for key, value in vars(spec).items())
    return Path(cache_dir) / f"{kind}-v{DATA_VERSION}-{fields}.npz"


@functools.lru_cache(maxsize=4)
def validation_set(
    spec: ValidationSpec = ValidationSpec(), cache_dir: Path | None = DEFAULT_CACHE_DIR
) -> LabeledImages:
    """The gate's fixed validation set for ``spec`` (deterministic; cached per process and in
    ``cache_dir``)."""
    from digitlib.drawings import data

    images, labels = data.load_mnist("test")
    rows = np.random.default_rng(spec.seed).choice(
        np.arange(0, 10000, 2), spec.mnist, replace=False
    )
    rows.sort()
    mnist = (images[rows].astype(np.float32) / 255, labels[rows].astype(np.int64))
    return _assemble(
        mnist,
        spec.canvas,
        spec.other,
        spec.seed + 1000,
        _cache_path("validation", spec, cache_dir),
    )


@functools.lru_cache(maxsize=1)
def mnist_evaluation_set() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 odd rows of MNIST test, which the gate never sees: float32 (5000, 28, 28) in
    [0, 1] and int64 (5000,). Tests and the benchmark measure forgetting on these."""
    from digitlib.drawings import data

    images, labels = data.load_mnist("test")
    return images[1::2].astype(np.float32) / 255, labels[1::2].astype(np.int64)


@functools.lru_cache(maxsize=2)
def replay_pool(
    spec: ReplaySpec = ReplaySpec(), cache_dir: Path | None = DEFAULT_CACHE_DIR
) -> LabeledImages:
    """The pool replay samples are drawn from for ``spec`` (deterministic; cached per process
    and in ``cache_dir``)."""
    from digitlib.drawings import data

    images, labels = data.load_mnist("train")
    rows = np.sort(np.random.default_rng(spec.seed).choice(len(images), spec.mnist, replace=False))
    mnist = (images[rows].astype(np.float32) / 255, labels[rows].astype(np.int64))
    return _assemble(
        mnist, spec.canvas, spec.other, spec.seed + 2000, _cache_path("replay", spec, cache_dir)
    )


@functools.lru_cache(maxsize=2)
def stroke_validation_set(spec: StrokeSpec = StrokeSpec()) -> LabeledImages:
    """The stroke model's gate set for ``spec``: drawings of the hands it never trained on
    (``train_strokes.fusion_drawings``), at most ``spec.validation`` of each part, encoded as
    drawn (deterministic; built in about 2 s, cached per process). ``sources``: "pendigits",
    "unipen" (digits) and "other" (letters and signs)."""
    from digitlib.drawings.strokes import encode_many
    from digitlib.training.train_strokes import fusion_drawings

    held = fusion_drawings()
    rng = np.random.default_rng(spec.seed)
    parts = np.array(
        [
            "other" if label == OTHER else group.split("/")[0]
            for group, label in zip(held.groups, held.labels.tolist(), strict=True)
        ]
    )
    rows = []
    for part in np.unique(parts):
        members = np.flatnonzero(parts == part)
        rows.append(rng.choice(members, min(spec.validation, len(members)), replace=False))
    picked = np.sort(np.concatenate(rows))
    return LabeledImages(
        encode_many([held.drawings[i] for i in picked]), held.labels[picked], parts[picked]
    )


@functools.lru_cache(maxsize=2)
def stroke_replay_pool(spec: StrokeSpec = StrokeSpec()) -> LabeledImages:
    """The stroke model's replay pool for ``spec``: at most ``spec.replay`` of each part of its
    training drawings (``train_strokes.training_drawings``, no traced MNIST), one augmented
    variant each, encoded (deterministic; built in a few seconds, cached per process)."""
    from digitlib.training.train_strokes import StrokeSettings, encode_variants, training_drawings

    settings = StrokeSettings(limit=spec.replay, mnist_traced=0)
    drawings = training_drawings(settings, rng=spec.seed + 1)
    inputs = encode_variants(drawings, settings, np.random.default_rng(spec.seed + 2))
    return LabeledImages(inputs, drawings.labels, np.array(drawings.groups))
