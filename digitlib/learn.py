"""Online learning from people's corrections, guarded so that bad labels cannot ruin the models.

    >>> learner = OnlineLearner(recognizer, store)
    >>> update = learner.learn(image, labels="42")     # one character per segment, "?" = other
    >>> update.promoted, update.reason, update.metrics, update.seconds, update.held

One call of ``learn``:

1. **Read the drawing**, cut into segments as recognition cuts it, and parse the labels.
2. **Screen it**: a drawing with no ink, a label that is no digit or "?", a label count that does
   not match the segment count, or a segment on which every model agrees with high confidence on
   another class goes to the store's review queue instead of training (``Update.held``).
3. **Train copies**: each labeled segment becomes its 24 variants (``augment.variants24``) plus the
   segment itself, mixed with a replay sample of earlier data (MNIST, canvas digits, "other"
   drawings and earlier accepted corrections) so that the models do not forget. Copies of all
   trainable models are fine-tuned with a small learning rate: the NumPy network whole, the
   Keras models from their second-to-last Dense layer on (``LearnConfig.keras_layers``). The
   live models are never touched.
4. **Gate**: the copies are scored on a fixed validation set (``ValidationSpec``: MNIST test digits
   of the even rows, canvas renderings of training writers' digits, "other" drawings), on the
   whole set and on each part, and on the segments themselves. A copy that loses more than
   ``tolerance`` against the live model (a single model: or more than ``noise_sigmas`` standard
   errors of the paired measurement), or ends more than ``model_drift`` below the reference
   accuracy of its lineage while losing anything, keeps its live model; so do all when the
   ensemble fails the same bounds (``tolerance``, ``max_drift``).
5. **Promote**: the copies that passed are saved as new versions in the registry (parent,
   metrics, ``produced_by="online update"``), the ``current`` pointers are moved with
   conditional promotion (when another learner promoted first, the update is re-applied on top
   of the winner) and the recognizer swaps to them atomically. Every update, promoted or not, is
   recorded in the store's update log.

The gate is cheap: the features of the validation set below the trained Keras layers are cached
per feature extractor, so a candidate is scored on the whole set with two small matrix
products. With ``keras_layers="all"`` a candidate is instead scored on the validation images the
live models are unsure of (margin below ``gate_margin``) plus a random control sample of the
sure ones, and on the whole set when any control image changes its reading
(``metrics["gate"]["exact"]``).
"""

from __future__ import annotations

import functools
import io
import json
import logging
import re
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitlib.config import CLASS_NAMES, HELD_OUT, NUM_CLASSES, OTHER, PROJECT_ROOT

log = logging.getLogger(__name__)

#: ``produced_by`` of the versions this module saves.
PRODUCED_BY = "online update"
#: Store prefix of the corrections kept for replay.
CORRECTIONS_PREFIX = "learn/corrections/"
#: How the parts of the validation set are named in reasons.
GROUP_NAMES = {"mnist": "MNIST", "canvas": "canvas digits", "other": '"other" drawings'}
#: Anonymous session ids: what the store's update log and review queue accept.
_SESSION = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: How many earlier corrections are read back for replay at start.
MAX_REPLAYED_CORRECTIONS = 2000


@dataclass(frozen=True)
class ValidationSpec:
    """The fixed validation set of the gate (built once per process for each spec).

    ``mnist``: MNIST test images drawn from the even rows (the odd rows are left for measuring,
    see ``mnist_evaluation_set``); ``canvas``: pendigits digits of the training writers (not
    ``HELD_OUT``) rendered on random canvases as recognition sees them; ``other``: Quick, Draw!
    doodles of the training categories and synthetic non-digits rendered the same way.
    """

    mnist: int = 2000
    canvas: int = 1000
    other: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("mnist", "canvas", "other"):
            if getattr(self, name) < 0:
                raise ValueError(f"ValidationSpec.{name} must be >= 0, got {getattr(self, name)}")
        if self.mnist > 5000:
            raise ValueError(
                f"ValidationSpec.mnist is at most 5000 (the even test rows), got {self.mnist}"
            )
        if self.mnist + self.canvas + self.other == 0:
            raise ValueError("the validation set must not be empty")


@dataclass(frozen=True)
class ReplaySpec:
    """The pool the replay sample of each update is drawn from (built once per process).

    MNIST training images, canvas renderings of training writers' digits (another seed than the
    validation set), and "other" drawings.
    """

    mnist: int = 4000
    canvas: int = 1500
    other: int = 1000
    seed: int = 1


@dataclass(frozen=True)
class LearnConfig:
    """Settings of online learning.

    learning_rates : model name -> step (SGD with momentum 0.9 by default); ``learning_rate``
        for models not named.
    keras_layers : "top" fine-tunes the Keras models' layers from their second-to-last Dense
        layer on (features below kept; the gate then scores the whole validation set exactly at
        almost no cost), "all" every layer (the gate screens, see the module docstring).
    clip_norm : the Keras models' gradients are scaled down to this global norm at most (a
        confidently misread drawing has a large loss; one unclipped step could undo much).
    keras_optimizer : "sgd" (momentum 0.9) or "adam" for the Keras models. Adam's first steps
        move every weight by about the learning rate whatever its gradient, which cost the
        shipped FNN validation accuracy in 12 of 16 updates at 1e-4; SGD at 3e-3 in 3 of 16,
        with the same gain on the drawing.
    epochs, batch_size : passes over each update's batch and its mini-batch size. With the
        models trained on stroke-augmented extras, 3 epochs at the former steps (1e-3, 1e-3,
        3e-3) taught 10 corrections of held-out writer 28's flagged 1s to 88% of the writer's
        unseen 1s (target 90%); 4 epochs at the steps above reached 94%.
    replay_size : earlier samples mixed into each update (MNIST, canvas digits, "other").
    correction_share : share of the replay taken from earlier accepted corrections, when any.
    tolerance : largest validation accuracy loss (a fraction: 0.001 = 0.1 points) a candidate may
        have against the live model, per model and for the ensemble.
    noise_sigmas : a single model's loss is also allowed up to this many standard errors of the
        gate's paired measurement (sqrt(images that flipped right/wrong) / images): a loss the gate
        cannot tell from noise does not reject a model on its own. The ensemble is held to
        ``tolerance`` alone. 0 turns it off.
    max_drift : largest loss of the ensemble against the reference accuracy of its lineage (the
        accuracy before the first online update), so that many small losses cannot add up: a
        candidate below ``reference - max_drift`` is rejected unless it is no worse than the
        live models. The ensemble is what a reading uses.
    model_drift : the same bound for each single model (looser: a model's own figure moves more
        per update than the ensemble's, and the ensemble's bound guards the readings).
    suspicion_confidence : a label is suspicious when every model reads another class with at
        least this probability. Measured on the 1,247 held-out pendigits writers' canvas digits
        with the shipped models: at 0.99 a wrong label is held on 78% of them (53% at 0.999),
        while of the 9 that all three models misread alike, one would hold its correction, the
        same one as at 0.999 (genuine misreads are rarely read wrong at 99% by every model).
    gate_margin, gate_control : the cheap gate's screening (see the module docstring); set
        ``exact_gate`` to score every validation image instead.
    max_attempts : promotions tried when other learners promote first.
    models : names of the models to train (None: every model of the recognizer).
    seed : seeds the augmentation, replay sampling and training order.
    """

    learning_rates: dict = field(
        default_factory=lambda: {"numpy_fnn": 1.5e-3, "fnn": 1.5e-3, "cnn": 4e-3}
    )
    learning_rate: float = 1.5e-3
    keras_optimizer: str = "sgd"
    clip_norm: float | None = 1.0
    keras_layers: str | dict = "top"
    epochs: int = 4
    batch_size: int = 32
    replay_size: int = 72
    correction_share: float = 0.25
    tolerance: float = 0.001
    noise_sigmas: float = 2.0
    max_drift: float = 0.001
    model_drift: float = 0.003
    suspicion_confidence: float = 0.99
    validation: ValidationSpec = field(default_factory=ValidationSpec)
    replay: ReplaySpec = field(default_factory=ReplaySpec)
    gate_margin: float = 0.6
    gate_control: int = 128
    exact_gate: bool = False
    refresh_every: int = 20
    max_attempts: int = 3
    models: tuple[str, ...] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        rates = [self.learning_rate, *dict(self.learning_rates).values()]
        if not all(isinstance(rate, int | float) and rate > 0 for rate in rates):
            raise ValueError(f"learning rates must be > 0, got {rates}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}"
            )
        if self.replay_size < 0:
            raise ValueError(f"replay_size must be >= 0, got {self.replay_size}")
        if not 0 <= self.correction_share <= 1:
            raise ValueError(f"correction_share must be in [0, 1], got {self.correction_share}")
        if self.noise_sigmas < 0:
            raise ValueError(f"noise_sigmas must be >= 0, got {self.noise_sigmas}")
        if not (0 <= self.tolerance < 1 and 0 <= self.max_drift < 1 and 0 <= self.model_drift < 1):
            raise ValueError(
                "tolerance, max_drift and model_drift are fractions in [0, 1): 0.001 = 0.1 points"
            )
        if not 0.5 < self.suspicion_confidence <= 1:
            raise ValueError(
                f"suspicion_confidence must be in (0.5, 1], got {self.suspicion_confidence}"
            )
        modes = (
            dict(self.keras_layers).values()
            if isinstance(self.keras_layers, dict)
            else [self.keras_layers]
        )
        if not all(mode in ("top", "all") for mode in modes):
            raise ValueError(
                f"keras_layers must be 'top' or 'all' (or a dict of model name -> 'top' or "
                f"'all'), got {self.keras_layers!r}"
            )
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")

    def layers_of(self, name: str) -> str:
        """What of the Keras model ``name`` is fine-tuned: "top" or "all"."""
        if isinstance(self.keras_layers, dict):
            return dict(self.keras_layers).get(name, "top")
        return self.keras_layers


@dataclass
class Update:
    """What one ``learn`` call did.

    promoted : the new models are live in the recognizer and current in the registry.
    reason : why not (or what happened), in words.
    metrics : ``{"validation": {model: {"before", "after"}}, "segments": {model: {"before",
        "after"}}, "reference": {model: accuracy}, "gate": {...}, "train": {...}}``; accuracies
        are fractions, segment figures the mean probability of the given labels.
    seconds : wall time of the call.
    versions : model name -> version live after the call.
    held : ids of review-queue items this call created (empty when it trained).
    labels : the class index of each segment (10 = other), as understood.
    session_id : the anonymous session id given.
    attempts : promotions tried (more than 1 when another learner promoted first).
    """

    promoted: bool
    reason: str
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0
    versions: dict = field(default_factory=dict)
    held: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    session_id: str | None = None
    attempts: int = 0

    def record(self) -> dict:
        """A JSON-ready summary for the store's update log."""
        return {
            "promoted": self.promoted,
            "reason": self.reason,
            "metrics": self.metrics,
            "seconds": round(self.seconds, 4),
            "versions": self.versions,
            "held": list(self.held),
            "labels": [CLASS_NAMES[label] for label in self.labels],
            "session_id": self.session_id,
            "attempts": self.attempts,
        }


class Suspicious(Exception):
    """Internal: the drawing goes to the review queue, for the reason in the message."""


# --- labels ---------------------------------------------------------------------------------------


def parse_labels(labels: str | Sequence) -> list[int | None]:
    """Class indices from a reading: a string with one character per segment ("42", "?" = other;
    spaces ignored), or a sequence with one entry per segment (a one-character string, "other",
    or an int 0..10). Entries that are no digit or "?" come back as None (held for review).

    Raises ``TypeError`` for anything else than a string or a sequence.
    """
    if isinstance(labels, str):
        items: Sequence = [char for char in labels if not char.isspace()]
    elif isinstance(labels, (list, tuple)):
        items = labels
    else:
        raise TypeError(
            f"labels must be a string with one character per segment ('42', '?' = other) or a "
            f"list with one label per segment, got {type(labels).__name__}"
        )
    parsed: list[int | None] = []
    for item in items:
        if isinstance(item, (bool, np.bool_)):
            parsed.append(None)
        elif isinstance(item, (int, np.integer)):
            parsed.append(int(item) if 0 <= int(item) < NUM_CLASSES else None)
        elif isinstance(item, str) and item.strip() in ("?", "other"):
            parsed.append(OTHER)
        elif isinstance(item, str) and len(item.strip()) == 1 and item.strip() in "0123456789":
            parsed.append(int(item.strip()))
        else:
            parsed.append(None)
    return parsed


def label_text(labels: Sequence[int]) -> str:
    """Class indices -> the reading ("4?2")."""
    return "".join("?" if label == OTHER else str(label) for label in labels)


# --- data: validation set and replay pool ----------------------------------------------------------


@dataclass(frozen=True)
class LabeledImages:
    """``images`` float32 (N, 28, 28) in [0, 1], ``labels`` int64 (N,), ``sources`` (N,) str."""

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
    from digitlib import data, preprocess

    rng = np.random.default_rng(seed)
    outputs = np.zeros((len(drawings), 28, 28), np.float32)
    for index, strokes in enumerate(drawings):
        style = data.random_style(rng, canvas_range=(200, 320))
        outputs[index] = preprocess.to_model_input(
            preprocess.ink_from_image(data.render_strokes(strokes, style))
        )
    return outputs


def _rendered_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from digitlib import data

    writers = set(HELD_OUT.pendigits_writers)
    digits = [d for d in data.load_pendigits() if d.writer not in writers]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(digits), size=min(count, len(digits)), replace=False))
    images = _render_inputs([digits[i].strokes for i in pick], int(rng.integers(2**31)))
    return images, np.array([digits[i].label for i in pick], np.int64)


def _rendered_others(count: int, seed: int) -> np.ndarray:
    from digitlib import data
    from digitlib.train import synthetic_drawings

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
    from digitlib import data

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
    from digitlib import data

    images, labels = data.load_mnist("test")
    return images[1::2].astype(np.float32) / 255, labels[1::2].astype(np.int64)


@functools.lru_cache(maxsize=2)
def replay_pool(
    spec: ReplaySpec = ReplaySpec(), cache_dir: Path | None = DEFAULT_CACHE_DIR
) -> LabeledImages:
    """The pool replay samples are drawn from for ``spec`` (deterministic; cached per process
    and in ``cache_dir``)."""
    from digitlib import data

    images, labels = data.load_mnist("train")
    rows = np.sort(np.random.default_rng(spec.seed).choice(len(images), spec.mnist, replace=False))
    mnist = (images[rows].astype(np.float32) / 255, labels[rows].astype(np.int64))
    return _assemble(
        mnist, spec.canvas, spec.other, spec.seed + 2000, _cache_path("replay", spec, cache_dir)
    )


# --- fast in-place fine-tuning of Keras models -----------------------------------------------------


def _optimizer(kind: str, clip_norm: float | None):
    """A fresh Keras optimizer: "sgd" (momentum 0.9) or "adam"; its learning rate is set per use."""
    import keras

    if kind == "adam":
        return keras.optimizers.Adam(learning_rate=1e-4, global_clipnorm=clip_norm)
    if kind == "sgd":
        return keras.optimizers.SGD(learning_rate=1e-2, momentum=0.9, global_clipnorm=clip_norm)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {kind!r}")


def _training_step(model, optimizer, input_shape: tuple):
    """One traced gradient step of ``model`` (inference-mode batch norm and dropout) on inputs
    float32 ``(None, *input_shape)`` and int64 labels; builds ``optimizer`` for its variables."""
    import keras
    import tensorflow as tf

    variables = model.trainable_variables
    optimizer.build(variables)
    loss_function = keras.losses.SparseCategoricalCrossentropy()

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, *input_shape), tf.float32),
            tf.TensorSpec((None,), tf.int64),
        ]
    )
    def step(inputs, labels):
        with tf.GradientTape() as tape:
            loss = loss_function(labels, model(inputs, training=False))
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss

    return step


class _FineTuner:
    """What both Keras trainers share: a traced training ``step`` and an ``optimizer`` whose
    state is reset before each ``fit``."""

    step: Callable
    optimizer: object

    def training_inputs(self, images: np.ndarray) -> np.ndarray:
        """What ``step`` trains on, made from model inputs float32 (N, 28, 28)."""
        return images

    def fit(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        learning_rate: float,
        epochs: int,
        batch_size: int,
        rng: np.random.Generator,
    ) -> None:
        """Reset the optimizer's state (moments, step count), set its learning rate, and run
        ``step`` over ``epochs`` shuffled passes of mini-batches."""
        import tensorflow as tf

        optimizer = self.optimizer
        for variable in optimizer.variables:
            if variable is not optimizer.learning_rate:
                variable.assign(tf.zeros(variable.shape, variable.dtype))
        optimizer.learning_rate.assign(learning_rate)
        inputs = self.training_inputs(images)
        for _ in range(epochs):
            order = rng.permutation(len(inputs))
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                self.step(tf.constant(inputs[batch]), tf.constant(labels[batch]))


class _KerasTrainer(_FineTuner):
    """Fine-tunes one ``KerasClassifier`` in place with a training step traced once.

    ``KerasClassifier.fine_tune`` builds its ``tf.function`` on every call; tracing it costs
    seconds, more than the whole budget of an update. The trainer keeps the traced step and the
    optimizer and resets the optimizer's state before each use. Batch norm and dropout run in
    inference mode, as in ``fine_tune``; the optimizer is SGD with momentum or Adam.
    """

    def __init__(self, classifier, optimizer: str = "sgd", clip_norm: float | None = None) -> None:
        self.optimizer = _optimizer(optimizer, clip_norm)
        self.step = _training_step(classifier.model, self.optimizer, (28, 28))


class _KerasTop(_FineTuner):
    """Fine-tunes the top of one ``KerasClassifier`` in place: the layers from its second-to-last
    ``Dense`` layer on (the CNN's dense block and softmax, the FNN's second hidden layer and
    softmax), the feature layers below kept as they are.

    This is the keras-io transfer-learning recipe (keep the feature extractor, train the
    classifier on top) and what makes an update cheap and safe: the features of the validation
    set are computed once per feature extractor, so the gate scores a candidate on the whole set
    with two small matrix products, and one drawing cannot disturb the learned features.

    The model must run its top layers as a chain (each layer's input the previous one's output);
    ``build`` returns None for any other shape, which is then fine-tuned whole.
    """

    def __init__(self, classifier, backbone, top, optimizer: str, clip_norm: float | None):
        import tensorflow as tf

        self.classifier = classifier
        self.backbone, self.top = backbone, top
        #: Set by the learner to the live inference model's features (same weights, no trace).
        self.lean_features: Callable[[np.ndarray], np.ndarray] | None = None
        self.optimizer = _optimizer(optimizer, clip_norm)
        width = int(backbone.output.shape[-1])

        @tf.function(input_signature=[tf.TensorSpec((None, 28, 28), tf.float32)])
        def features(images):
            return backbone(images, training=False)

        @tf.function(input_signature=[tf.TensorSpec((None, width), tf.float32)])
        def predict_top(feature_rows):
            return top(feature_rows, training=False)

        step = _training_step(top, self.optimizer, (width,))
        self.features, self.predict_top, self.step = features, predict_top, step

    @classmethod
    def build(cls, classifier, optimizer: str, clip_norm: float | None) -> _KerasTop | None:
        """The trainer of ``classifier``'s head (``inference.split_layers``: where the model
        declares its features), or None for a model without a head of that form."""
        import keras

        from digitlib.models.inference import split_layers

        model = classifier.model
        try:
            feature, chain = split_layers(model)
            backbone = keras.Model(model.inputs, feature)
            inputs = keras.Input(shape=tuple(feature.shape[1:]))
            output = inputs
            for layer in chain:
                output = layer(output)
            top = keras.Model(inputs, output)
        except (AttributeError, ValueError):  # a layer used twice, several inputs...
            return None
        return cls(classifier, backbone, top, optimizer, clip_norm)

    def fingerprint(self) -> str:
        """Identifies the feature extractor's weights (the cache key of validation features)."""
        from digitlib.models.inference import weights_fingerprint

        return weights_fingerprint(self.backbone.get_weights())

    def feature_rows(self, images: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [
                self.features(images[start : start + 1024]).numpy()
                for start in range(0, len(images), 1024)
            ]
        )

    def training_inputs(self, images: np.ndarray) -> np.ndarray:
        if self.lean_features is not None:
            return self.lean_features(images)
        return self.feature_rows(images)

    def probabilities(self, feature_rows: np.ndarray) -> np.ndarray:
        """The head's probabilities as readers compute them (the inference file's NumPy head)."""
        from digitlib.models.inference import head_of, run_head

        return run_head(head_of(self.classifier.model), feature_rows)


def _is_keras(model) -> bool:
    return hasattr(model, "model") and hasattr(model.model, "get_weights")


# --- the learner ---------------------------------------------------------------------------------


class OnlineLearner:
    """Learns from corrections into ``recognizer``'s models, with versions kept in ``store``.

    Parameters
    ----------
    recognizer : digitlib.recognize.Recognizer
        Its models are the live ones; promoted updates are swapped in with ``set_models``.
    store : digitlib.store.Store
        Where versions (``ModelRegistry``), the review queue and the update log
        (``DrawingStore``) and the corrections kept for replay live.
    config : LearnConfig
    shipped_dir : folder of the shipped checkpoints (the registry's fallback); default
        ``digitlib.config.SHIPPED_MODELS_DIR``.
    """

    def __init__(
        self,
        recognizer,
        store,
        config: LearnConfig = LearnConfig(),
        shipped_dir: Path | None = None,
    ) -> None:
        from digitlib.store import DrawingStore, ModelRegistry

        if not isinstance(config, LearnConfig):
            raise TypeError(f"config must be a LearnConfig, got {type(config).__name__}")
        self.recognizer = recognizer
        self.store = store
        self.config = config
        if shipped_dir is None:
            from digitlib.config import SHIPPED_MODELS_DIR

            shipped_dir = SHIPPED_MODELS_DIR
        self.registry = ModelRegistry(store, shipped_dir)
        self.drawings = DrawingStore(store)
        trainable = config.models if config.models is not None else tuple(recognizer.models)
        unknown = set(trainable) - set(recognizer.models)
        if unknown:
            raise ValueError(
                f"LearnConfig.models names models the recognizer does not have: "
                f"{sorted(unknown)}; it has {sorted(recognizer.models)}"
            )
        self.trainable = tuple(trainable)
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(config.seed)
        self._trainers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._spares: dict[str, list] = {name: [] for name in self.trainable}
        self._probabilities: dict[str, tuple[object, np.ndarray]] = {}
        self._features: dict[str, tuple[str, np.ndarray]] = {}
        #: name -> (live reading model, its Keras checkpoint loaded for fine-tuning)
        self._twins: dict[str, tuple[object, object]] = {}
        self._prepared = False
        self._promotions_since_refresh = 0
        self._round = 0
        self._reference: dict[tuple, float] = {}
        self._corrections: list[tuple[np.ndarray, np.ndarray]] = self._load_corrections()

    # --- public ---------------------------------------------------------------------------------

    def learn(
        self,
        image: np.ndarray | bytes,
        labels: str | Sequence,
        session_id: str | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> Update:
        """Learn the reading ``labels`` of the drawing ``image``.

        ``image``: a canvas as ``preprocess.ink_from_image`` takes it (uint8 (H, W), (H, W, 3) or
        (H, W, 4), or PNG/JPEG bytes). ``labels``: one character per segment ("42"; "?" marks a
        segment that is not a digit), or a list with one label per segment. ``progress``: see
        ``prepare`` (called while a first learn gets ready). Returns an ``Update``; suspicious
        drawings are held for review and not trained (``Update.held``).
        """
        return self._learn(image, labels, session_id, trusted=False, progress=progress)

    def accept(
        self, held_id: str, labels: str | Sequence | None = None, session_id: str | None = None
    ) -> Update:
        """Accept a held drawing from the review queue (optionally with corrected ``labels``)
        and learn from it without the suspicion checks.

        Raises ``ValueError`` (and leaves the drawing on the queue) when it cannot be learned as
        labeled: no ink, a label that is no digit or "?", or not one label per segment.
        """
        held = self.drawings.get_held(held_id)
        reading = list(held.labels) if labels is None else labels
        try:
            self._screen(self._segments(held.png), parse_labels(reading), trusted=True)
        except Suspicious as problem:
            raise ValueError(
                f"cannot learn held drawing {held_id} as labeled: {problem}; accept it with "
                "one label per segment"
            ) from None
        item = self.drawings.accept(held_id, labels=labels)
        return self._learn(
            item.png, list(item.labels), session_id or item.record.session_id, trusted=True
        )

    def reject(self, held_id: str) -> None:
        """Reject a held drawing: it is never trained."""
        self.drawings.reject(held_id)

    def prepare(self, progress: Callable[[str, float], None] | None = None) -> None:
        """Do now what every ``learn`` needs and no drawing changes, so that the first one is
        quick: the validation set and replay pool (shared through the store's cache), the live
        models' validation scores, and the Keras checkpoints behind the live inference files
        with their traced training steps (this imports TensorFlow).

        ``progress(step, fraction)`` is called before each step (``fraction`` in [0, 1)) and
        with 1.0 at the end. Idempotent and thread-safe; ``learn`` calls it first.
        """
        report = progress or (lambda step, fraction: None)
        with self._lock:
            if self._prepared:
                report("ready", 1.0)
                return
            config = self.config
            report("loading the validation drawings", 0.0)
            share_cache(self.store, config.validation, "validation")
            validation_set(config.validation)
            share_cache(self.store, config.validation, "validation")
            report("loading earlier examples to replay", 0.15)
            if config.replay_size:
                share_cache(self.store, config.replay, "replay")
                replay_pool(config.replay)
                share_cache(self.store, config.replay, "replay")
            report("scoring the live models", 0.3)
            for name in self.recognizer.models:
                self._live_probabilities(name)
            for index, name in enumerate(self.trainable):
                report(f"loading the trainable {name}", 0.45 + 0.5 * index / len(self.trainable))
                live = self._twin(name)
                if _is_keras(live):
                    self._spares[name].append((self._trainable_copy(name, live), 0))
            self._prepared = True
        report("ready", 1.0)

    # --- one update -----------------------------------------------------------------------------

    def _learn(self, image, labels, session_id, *, trusted: bool, progress=None) -> Update:

        start = time.perf_counter()
        self.prepare(progress)
        parsed = parse_labels(labels)
        if session_id is not None and not (
            isinstance(session_id, str) and _SESSION.match(session_id)
        ):
            raise ValueError(
                f"session_id must be 1-64 letters, digits, '_' or '-', got {session_id!r}"
            )
        with self._lock:
            inputs = self._segments(image)
            update = Update(
                False, "", session_id=session_id, labels=[p for p in parsed if p is not None]
            )
            try:
                self._screen(inputs, parsed, trusted)
            except Suspicious as suspicion:
                if trusted:
                    raise ValueError(f"cannot learn this drawing: {suspicion}") from None
                update.reason = f"{suspicion}: held for review"
                update.held = [
                    self._hold(image, parsed, inputs, labels, str(suspicion), session_id)
                ]
                update.versions = dict(self._versions())
                update.seconds = time.perf_counter() - start
                self._record(update)
                return update
            self._train_gate_promote(inputs, np.array(parsed, np.int64), update)
            update.seconds = time.perf_counter() - start
            self._record(update)
            return update

    def _segments(self, image) -> np.ndarray:
        """The model inputs (K, 28, 28) float32 of the drawing's segments, cut as recognition
        cuts them (the whole-drawing input recognize() adds for several segments is left out)."""
        from digitlib.recognize import prepare

        segmentation = getattr(self.recognizer, "segmentation", None) or _default_segmentation()
        prepared = prepare(image, segmentation)
        if not prepared.boxes:
            return np.zeros((0, 28, 28), np.float32)
        return np.stack(prepared.inputs[: len(prepared.boxes)]).astype(np.float32)

    def _screen(self, inputs: np.ndarray, parsed: list, trusted: bool) -> None:
        if len(inputs) == 0:
            raise Suspicious("the drawing has no ink")
        bad = [index for index, label in enumerate(parsed) if label is None]
        if bad:
            raise Suspicious(f"label {bad[0] + 1} is no digit or '?'")
        if len(parsed) != len(inputs):
            raise Suspicious(f"{len(parsed)} labels for {len(inputs)} segments")
        if trusted:
            return
        probabilities = {
            name: self.recognizer.models[name].predict_proba(inputs)
            for name in self.recognizer.models
        }
        threshold = self.config.suspicion_confidence
        for index, label in enumerate(parsed):
            readings = {int(np.argmax(p[index])) for p in probabilities.values()}
            lowest = min(float(np.max(p[index])) for p in probabilities.values())
            if len(readings) == 1 and label not in readings and lowest >= threshold:
                (reading,) = readings
                raise Suspicious(
                    f"label {CLASS_NAMES[label]!r} of segment {index + 1} disagrees with every "
                    f"model, which read {CLASS_NAMES[reading]!r} at >{threshold:.1%} confidence"
                )

    def _train_gate_promote(self, inputs: np.ndarray, labels: np.ndarray, update: Update) -> None:
        from digitlib.augment import variants24

        rng = self._rng
        timing = update.metrics.setdefault("timing", {})
        clock = time.perf_counter()
        batch_images = [inputs]
        batch_labels = [labels]
        for segment, label in zip(inputs, labels, strict=True):
            batch_images.append(variants24(segment, rng))
            batch_labels.append(np.full(24, label, np.int64))
        replay_images, replay_labels = self._replay_sample(rng)
        images = np.concatenate(batch_images + [replay_images]).astype(np.float32)
        targets = np.concatenate(batch_labels + [replay_labels]).astype(np.int64)
        update.metrics["train"] = {
            "samples": len(images),
            "segments": len(inputs),
            "replay": len(replay_images),
        }
        timing["batch"] = time.perf_counter() - clock
        pending = list(self.trainable)
        done: list[str] = []
        kept: dict[str, str] = {}
        for attempt in range(1, self.config.max_attempts + 1):
            update.attempts = attempt
            self._round += 1
            clock = time.perf_counter()
            self._sync_with_registry()
            candidates = {name: self._fine_tuned(name, images, targets, rng) for name in pending}
            timing["train"] = timing.get("train", 0.0) + time.perf_counter() - clock
            clock = time.perf_counter()
            accepted, reasons = self._gate(candidates, inputs, labels, update.metrics, rng)
            timing["gate"] = timing.get("gate", 0.0) + time.perf_counter() - clock
            for name, candidate in candidates.items():
                if name not in accepted:
                    self._release(name, candidate)
            kept.update(reasons)
            if not accepted:
                break
            clock = time.perf_counter()
            promoted, conflicted = self._promote(accepted, update.metrics)
            timing["promote"] = timing.get("promote", 0.0) + time.perf_counter() - clock
            clock = time.perf_counter()
            self._install(promoted)
            timing["install"] = timing.get("install", 0.0) + time.perf_counter() - clock
            done += list(promoted)
            if not conflicted:
                break
            pending = conflicted
        else:
            kept.update(
                {
                    name: f"other learners kept promoting first ({self.config.max_attempts} "
                    f"attempts)"
                    for name in pending
                }
            )
        update.promoted = bool(done)
        update.versions = dict(self._versions())
        if done:
            self._remember_correction(inputs, labels)
        update.reason = _summary(done, kept, update.attempts)

    # --- training ------------------------------------------------------------------------------

    def _replay_sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        size = self.config.replay_size
        if size == 0:
            return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64)
        pool = replay_pool(self.config.replay)
        from_corrections = min(
            int(round(size * self.config.correction_share)), len(self._corrections)
        )
        rows = rng.choice(len(pool.images), size - from_corrections, replace=False)
        images, labels = [pool.images[rows]], [pool.labels[rows]]
        if from_corrections:
            picks = rng.choice(len(self._corrections), from_corrections, replace=False)
            images.append(np.stack([self._corrections[i][0] for i in picks]))
            labels.append(np.array([self._corrections[i][1] for i in picks], np.int64))
        return np.concatenate(images), np.concatenate(labels)

    def _twin(self, name: str):
        """What fine-tuning starts from for ``name``: the live model itself when it trains
        (``NumpyFNN``, a Keras model read in TensorFlow), else the Keras checkpoint of the live
        version behind its inference file, loaded once per version (this imports TensorFlow:
        a process that only reads never does)."""
        from digitlib.models import InferenceModel, load_model

        live = self.recognizer.models[name]
        if not isinstance(live, InferenceModel):
            return live
        cached = self._twins.get(name)
        if cached is not None and cached[0] is live:
            return cached[1]
        version = self._versions().get(name)
        if isinstance(version, int):
            loaded = self.registry.load(
                name, lambda path: load_model(path, name), version=version
            ).model
        else:
            loaded = load_model(self.registry.shipped_path(name), name)
        # The checkpoint and the inference file must be the same model: the gate scores with
        # the inference file, promotion saves the checkpoint.
        self._twins[name] = (live, loaded)
        return loaded

    def _fine_tuned(self, name: str, images, labels, rng: np.random.Generator):
        config = self.config
        live = self._twin(name)
        rate = float(dict(config.learning_rates).get(name, config.learning_rate))
        if _is_keras(live):
            # Reuse a spare model (its traced functions with it); a model that left the
            # recognizer rests one update first, so that a recognize() call still holding it
            # is not served half-written weights.
            spares = self._spares[name]
            ready = [index for index, (_, after) in enumerate(spares) if after <= self._round]
            if ready:
                candidate = spares.pop(ready[0])[0]
                candidate.model.set_weights(live.model.get_weights())
            else:
                candidate = self._trainable_copy(name, live)
            trainer = self._trainers.get(candidate) or self._trainer_of(name, candidate)
            reading = self.recognizer.models[name]
            if isinstance(trainer, _KerasTop) and hasattr(reading, "feature_rows"):
                trainer.lean_features = reading.feature_rows
            trainer.fit(
                images,
                labels,
                learning_rate=rate,
                epochs=config.epochs,
                batch_size=config.batch_size,
                rng=rng,
            )
            return candidate
        candidate = live.copy()
        candidate.fine_tune(
            images,
            labels,
            learning_rate=rate,
            epochs=config.epochs,
            batch_size=config.batch_size,
            rng=rng,
        )
        return candidate

    def _trainable_copy(self, name: str, live):
        """A copy of the Keras model ``live`` with its trainer, its training step traced (one
        step at learning rate 0), so that the first update does not pay for tracing."""
        candidate = live.copy()
        self._trainer_of(name, candidate)
        candidate.model.set_weights(live.model.get_weights())
        return candidate

    def _trainer_of(self, name: str, candidate):
        """The trainer of the Keras ``candidate``, made and traced (one step at learning rate
        0) on first use."""
        config = self.config
        trainer = None
        if config.layers_of(name) == "top":
            trainer = _KerasTop.build(candidate, config.keras_optimizer, config.clip_norm)
        if trainer is None:
            trainer = _KerasTrainer(candidate, config.keras_optimizer, config.clip_norm)
        self._trainers[candidate] = trainer
        if isinstance(trainer, _KerasTop):
            width = int(trainer.backbone.output.shape[-1])
            probe = np.zeros((1, width), np.float32)
        else:
            probe = np.zeros((1, 28, 28), np.float32)
        import tensorflow as tf

        weights = candidate.model.get_weights()
        trainer.optimizer.learning_rate.assign(0.0)
        trainer.step(tf.constant(probe), tf.constant(np.zeros(1, np.int64)))
        candidate.model.set_weights(weights)
        return trainer

    def _release(self, name: str, model, *, rest: bool = False) -> None:
        if _is_keras(model):
            self._spares[name].append((model, self._round + (1 if rest else 0)))
            del self._spares[name][:-3]

    # --- gate ----------------------------------------------------------------------------------

    def _live_probabilities(self, name: str) -> np.ndarray:
        live = self.recognizer.models[name]
        cached = self._probabilities.get(name)
        if cached is None or cached[0] is not live:
            images = validation_set(self.config.validation).images
            cached = (live, live.predict_proba(images))
            self._probabilities[name] = cached
        return cached[1]

    def _exact_probabilities(self, name: str, candidate, images: np.ndarray) -> np.ndarray | None:
        """The candidate's probabilities on the whole validation set when they are cheap: from
        cached features for a top-trained Keras model, directly for a NumPy network; else None.
        """
        from digitlib.models import NumpyFNN

        trainer = self._trainers.get(candidate) if _is_keras(candidate) else None
        if isinstance(trainer, _KerasTop):
            reading = self.recognizer.models[name]
            fingerprint = trainer.fingerprint()
            cached = self._features.get(name)
            if cached is None or cached[0] != fingerprint:
                # The features as readers compute them (the inference file), when it has the
                # same feature part; else the Keras backbone's.
                same = getattr(reading, "features_fingerprint", None) == fingerprint
                rows = reading.feature_rows(images) if same else trainer.feature_rows(images)
                cached = (fingerprint, rows)
                self._features[name] = cached
            return trainer.probabilities(cached[1])
        if isinstance(candidate, NumpyFNN):
            return candidate.predict_proba(images)
        return None

    def _candidate_probabilities(self, name: str, candidate, images: np.ndarray) -> np.ndarray:
        """A candidate's probabilities as readers will compute them: its new head on the live
        inference file's features when only the head was trained, else the model itself."""
        trainer = self._trainers.get(candidate) if _is_keras(candidate) else None
        reading = self.recognizer.models[name]
        if isinstance(trainer, _KerasTop) and hasattr(reading, "feature_rows"):
            if reading.features_fingerprint == trainer.fingerprint():
                return trainer.probabilities(reading.feature_rows(images))
        return candidate.predict_proba(images)

    def _weights(self) -> dict[str, float]:
        weights = getattr(self.recognizer, "weights", None)
        ensemble = getattr(self.recognizer, "ensemble", None)
        if weights is None and ensemble is not None:
            weights = getattr(ensemble, "weights", None)
        if not weights:
            from digitlib.models.ensemble import Ensemble

            weights = Ensemble(self.recognizer.models).weights
        total = sum(weights[name] for name in self.recognizer.models)
        return {name: weights[name] / total for name in self.recognizer.models}

    def _gate(
        self, candidates: dict, inputs, labels, metrics: dict, rng: np.random.Generator
    ) -> tuple[dict, dict[str, str]]:
        """Score the candidates against the live models.

        Returns the candidates that may be promoted (name -> model) and, for the others, why
        not (name -> reason).
        """
        config = self.config
        validation = validation_set(config.validation)
        truth = validation.labels
        weights = self._weights()
        names = list(self.recognizer.models)
        before = {name: self._live_probabilities(name) for name in names}
        before["ensemble"] = sum(weights[name] * before[name] for name in names)

        if config.exact_gate:
            rows, control = np.arange(len(truth)), np.zeros(0, np.int64)
        else:
            # Only images some live model is unsure of (or wrong on) can change their reading
            # under a small update; a random control sample of the sure ones checks that.
            risky = np.zeros(len(truth), bool)
            for probabilities in before.values():
                top = np.sort(probabilities, axis=1)
                risky |= (top[:, -1] - top[:, -2]) < config.gate_margin
                risky |= np.argmax(probabilities, axis=1) != truth
            sure = np.flatnonzero(~risky)
            control = np.sort(rng.choice(sure, min(config.gate_control, len(sure)), replace=False))
            rows = np.sort(np.concatenate([np.flatnonzero(risky), control]))
        after, exact = {}, {}
        for name in names:
            if name not in candidates:
                after[name] = before[name]
                continue
            full = self._exact_probabilities(name, candidates[name], validation.images)
            if full is not None:
                after[name], exact[name] = full, True
                continue
            scored = candidates[name].predict_proba(validation.images[rows])
            full = before[name].copy()
            full[rows] = scored
            exact[name] = len(rows) == len(truth)
            moved = np.argmax(full[control], axis=1) != np.argmax(before[name][control], axis=1)
            if moved.any():  # the screening's assumption failed: score everything
                full = candidates[name].predict_proba(validation.images)
                exact[name] = True
            after[name] = full
        after["ensemble"] = sum(weights[name] * after[name] for name in names)
        self._pending_probabilities = {name: after[name] for name in candidates}
        self._pending_exact = {name for name in candidates if exact.get(name)}

        # Accuracy on the whole set and on each of its parts (MNIST, canvas digits, "other"):
        # gains on one part must not hide losses on another.
        groups = {"all": np.ones(len(truth), bool)}
        groups.update({str(g): validation.sources == g for g in np.unique(validation.sources)})
        sizes = {group: int(mask.sum()) for group, mask in groups.items()}

        def scores(probabilities: np.ndarray) -> dict[str, float]:
            right = np.argmax(probabilities, 1) == truth
            return {group: float(right[mask].mean()) for group, mask in groups.items()}

        def flips(old_table: np.ndarray, new_table: np.ndarray) -> dict[str, int]:
            # Images read right by one side only: the paired measurement's noise.
            moved = (np.argmax(old_table, 1) == truth) != (np.argmax(new_table, 1) == truth)
            return {group: int(moved[mask].sum()) for group, mask in groups.items()}

        keys = list(candidates) + ["ensemble"]
        old = {key: scores(before[key]) for key in keys}
        new = {key: scores(after[key]) for key in candidates}
        reference = self._reference_accuracy(old)
        metrics["labels"] = label_text(labels)
        metrics["reference"] = {"spec": _spec_key(config.validation), **reference}
        metrics["gate"] = {
            "scored": int(len(rows)),
            "of": int(len(truth)),
            "exact": all(exact.values()),
        }

        segment_before = {
            name: self.recognizer.models[name].predict_proba(inputs) for name in names
        }
        segment_after = {
            name: self._candidate_probabilities(name, candidates[name], inputs)
            if name in candidates
            else segment_before[name]
            for name in names
        }
        picked = np.arange(len(labels)), labels

        def segment_figures(before_table: np.ndarray, after_table: np.ndarray) -> dict:
            return {
                "before": float(np.mean(before_table[picked])),
                "after": float(np.mean(after_table[picked])),
                "reading_before": label_text(np.argmax(before_table, 1)),
                "reading_after": label_text(np.argmax(after_table, 1)),
            }

        metrics["segments"] = {
            name: segment_figures(segment_before[name], segment_after[name]) for name in candidates
        }

        # Each model passes or fails on its own; the ensemble is judged with the models that
        # passed (the live ones in place of those that failed) and on the drawing itself.
        reasons = {}
        for name in candidates:
            problem = self._loss(
                name,
                old[name],
                new[name],
                reference[name],
                sizes,
                flips(before[name], after[name]),
            )
            if problem:
                reasons[name] = problem
        accepted = {name: model for name, model in candidates.items() if name not in reasons}
        mixed = {name: after[name] if name in accepted else before[name] for name in names}
        new["ensemble"] = scores(sum(weights[name] * mixed[name] for name in names))
        segment_mixed = {
            name: segment_after[name] if name in accepted else segment_before[name]
            for name in names
        }
        metrics["segments"]["ensemble"] = segment_figures(
            sum(weights[name] * segment_before[name] for name in names),
            sum(weights[name] * segment_mixed[name] for name in names),
        )
        metrics["validation"] = {
            key: {
                "before": old[key]["all"],
                "after": new[key]["all"],
                "groups": {
                    group: {"before": old[key][group], "after": new[key][group]}
                    for group in groups
                    if group != "all"
                },
            }
            for key in keys
        }
        metrics["gate"]["passed"] = sorted(accepted)
        if accepted:
            problem = self._loss(
                "ensemble", old["ensemble"], new["ensemble"], reference["ensemble"], sizes
            )
            segment = metrics["segments"]["ensemble"]
            if not problem and segment["after"] < segment["before"] - 1e-3:
                problem = (
                    f"the update did not help on the drawing itself (probability of "
                    f"{label_text(labels)!r} fell from {segment['before']:.1%} to "
                    f"{segment['after']:.1%})"
                )
            if problem:
                reasons.update({name: problem for name in accepted})
                accepted = {}
        return accepted, reasons

    def _loss(
        self,
        key: str,
        old: dict,
        new: dict,
        reference: dict,
        sizes: dict[str, int],
        flipped: dict[str, int] | None = None,
    ) -> str:
        """Why the ``new`` validation accuracies (group -> accuracy) are not acceptable against
        the live model's ``old`` ones and the lineage's ``reference`` ('' when they are).

        On a part of the set, one image (two against the reference) may always flip: a
        tolerance finer than one image would reject updates for noise. With ``flipped`` (group ->
        images read right by one side only), a single model may also lose up to
        ``noise_sigmas`` standard errors of that paired measurement; never more than
        ``model_drift`` (the ensemble ``max_drift``) below the reference, whatever the live
        figure.
        """
        config = self.config
        for group in new:
            before, after = old[group], new[group]
            what = "validation accuracy" if key == "ensemble" else f"{key} validation accuracy"
            tolerance = config.tolerance
            drift = config.max_drift if key == "ensemble" else config.model_drift
            if group != "all":
                what += f" on {GROUP_NAMES.get(group, group)}"
                tolerance = max(tolerance, 1.0 / sizes[group])
                drift = max(drift, 2.0 / sizes[group])
            if flipped is not None:
                noise = config.noise_sigmas * np.sqrt(flipped[group]) / sizes[group]
                tolerance = max(tolerance, float(noise))
            if after < before - tolerance - 1e-9:
                return (
                    f"{what} fell from {before:.2%} to {after:.2%} (tolerance "
                    f"{tolerance * 100:.2f} points)"
                )
            # The reference bounds the line of versions: below ``start - drift`` only an update
            # that loses nothing more may pass, so many small losses cannot add up.
            start = reference.get(group, before)
            if after < start - drift - 1e-9 and after < before - 1e-9:
                return (
                    f"{what} would fall to {after:.2%}, more than {drift * 100:.2f} points "
                    f"below the {start:.2%} it had before online learning"
                )
        return ""

    def _reference_accuracy(self, current: dict[str, dict]) -> dict[str, dict]:
        """Validation accuracies (group -> accuracy) of each model's lineage before its first
        online update.

        Read from the live version's manifest (written by an earlier update with the same
        validation set); otherwise the live model is the start of the lineage and its accuracy
        is the reference.
        """
        spec = _spec_key(self.config.validation)
        versions = self._versions()
        for key, value in current.items():
            lineage = (
                (key, versions.get(key))
                if key != "ensemble"
                else (key, tuple(sorted(versions.items())))
            )
            if lineage in self._reference:
                continue
            stored = None
            names = [key] if key != "ensemble" else list(self.trainable)
            for name in names:
                version = versions.get(name)
                if not isinstance(version, int):
                    continue
                try:
                    manifest = self.registry.manifest(name, version)
                except Exception:  # a missing manifest means: no stored reference
                    continue
                saved = manifest.metrics.get("reference", {})
                if saved.get("spec") == spec and isinstance(saved.get(key), dict):
                    stored = {group: float(value) for group, value in saved[key].items()}
                    break
            self._reference[lineage] = stored if stored is not None else value
        return {
            key: self._reference[
                (key, versions.get(key))
                if key != "ensemble"
                else (key, tuple(sorted(versions.items())))
            ]
            for key in current
        }

    # --- registry --------------------------------------------------------------------------------

    def _versions(self) -> dict[str, str]:
        versions = getattr(self.recognizer, "versions", None) or {}
        return {name: versions.get(name, "shipped") for name in self.recognizer.models}

    def _sync_with_registry(self) -> None:
        """Load versions another learner promoted since this recognizer loaded its models."""
        from digitlib.models import InferenceModel, load_model

        versions = self._versions()
        newer = {}
        for name in self.trainable:
            current = self.registry.current(name)
            if current is None or current == versions.get(name):
                continue
            if versions.get(name) == "shipped" and self._is_shipped(name, current):
                continue  # the shipped checkpoint, stored as a version: nothing new to load
            if isinstance(self.recognizer.models[name], InferenceModel):
                loaded = self.registry.load_inference(name)
            else:
                loaded = self.registry.load(name, lambda path, name=name: load_model(path, name))
            newer[name] = (loaded.model, loaded.version)
        if newer:
            self._set_live(
                {name: model for name, (model, _) in newer.items()},
                {name: version for name, (_, version) in newer.items()},
            )

    def _promote(self, candidates: dict, metrics: dict) -> tuple[dict, list[str]]:
        """Save and promote each candidate; returns ({name: (model, version)}, conflicted).

        The models are saved and promoted side by side in threads (writing a ``.keras`` file
        and the store round trips wait on I/O and zlib more than on Python).
        """
        from concurrent.futures import ThreadPoolExecutor

        versions = self._versions()
        with tempfile.TemporaryDirectory(prefix="digitlib-learn-") as folder:

            def save_and_promote(name: str):
                return self._save_and_promote(
                    name, candidates[name], versions.get(name), Path(folder), metrics
                )

            if len(candidates) == 1:
                outcomes = [save_and_promote(name) for name in candidates]
            else:
                with ThreadPoolExecutor(len(candidates)) as pool:
                    outcomes = list(pool.map(save_and_promote, candidates))
        promoted, conflicted = {}, []
        for name, outcome in zip(candidates, outcomes, strict=True):
            if outcome is None:
                conflicted.append(name)
                self._release(name, candidates[name])
            else:
                reading, version = outcome
                promoted[name] = (reading, version)
                if reading is not candidates[name]:  # read through its new inference file
                    old = self._twins.get(name)
                    if old is not None and old[1] is not candidates[name]:
                        self._release(name, old[1])
                    self._twins[name] = (reading, candidates[name])
        return promoted, conflicted

    def _save_and_promote(
        self, name: str, candidate, parent, folder: Path, metrics: dict
    ) -> tuple[object, int] | None:
        """Save ``candidate`` as a new version of ``name`` (with its inference file when the
        live model reads through one) and promote it over ``parent``. Returns (the model that
        reads with it, the new version), or None when another learner promoted first."""
        from digitlib.models import InferenceModel
        from digitlib.models import inference as lean
        from digitlib.store import PromotionConflict

        if not isinstance(parent, int):
            parent = self._shipped_version(name)
        path = folder / f"{name}{self.registry.suffix(name)}"
        candidate.save(path)
        reading, inference = candidate, None
        live = self.recognizer.models[name]
        if isinstance(live, InferenceModel):
            reading = lean.export_inference(
                candidate.model,
                name=name,
                source_sha256=lean.sha256_of(path.read_bytes()),
                reuse=live,
            )
            inference = reading.to_bytes()
        manifest = self.registry.save_version(
            name,
            path,
            parent=parent,
            metrics=_model_metrics(metrics, name),
            produced_by=PRODUCED_BY,
            note=f"learned {metrics.get('labels', '')!r}",
            inference=inference,
        )
        try:
            self.registry.promote(
                name, manifest.version, expected_current=parent, note=PRODUCED_BY
            )
        except PromotionConflict:
            return None
        return reading, manifest.version

    def _is_shipped(self, name: str, version: int) -> bool:
        return self.registry.manifest(name, version).produced_by == "shipped"

    def _shipped_version(self, name: str) -> int | None:
        """The store version holding the shipped checkpoint the live model was loaded from.

        The shipped file is stored as the first version (``ModelRegistry.seed``) so that an
        update has a parent to roll back to. If another learner promoted since, the version
        returned is not current and the promotion conflicts, as it must.
        """
        seeded = self.registry.seed(name)
        if seeded is not None:
            return seeded.version
        current = self.registry.current(name)
        if current is not None and self._is_shipped(name, current):
            return current
        shipped = [m.version for m in self.registry.history(name) if m.produced_by == "shipped"]
        return min(shipped) if shipped else None

    def _install(self, promoted: dict) -> None:
        if not promoted:
            return
        pending = getattr(self, "_pending_probabilities", {})
        exact = getattr(self, "_pending_exact", set())
        old = {name: self.recognizer.models[name] for name in promoted}
        self._set_live(
            {name: model for name, (model, _) in promoted.items()},
            {name: version for name, (_, version) in promoted.items()},
        )
        self._promotions_since_refresh += 1
        refresh = self._promotions_since_refresh >= self.config.refresh_every
        for name, (model, _) in promoted.items():
            self._release(name, old[name], rest=True)
            if name in pending and (not refresh or name in exact):
                # The gate's figures: exact, or exact on the scored rows and the live model's
                # elsewhere (then refreshed every ``refresh_every`` promotions).
                self._probabilities[name] = (model, pending[name])
        if refresh:
            self._promotions_since_refresh = 0

    def _set_live(self, models: dict, versions: dict) -> None:
        self.recognizer.set_models(models, versions=versions)

    # --- store: review queue, history, corrections ---------------------------------------------

    def _hold(
        self, image, parsed: list, inputs: np.ndarray, given, reason: str, session_id: str | None
    ) -> str:
        readings = []
        if len(inputs):
            weights = self._weights()
            ensemble = sum(
                weights[name] * model.predict_proba(inputs)
                for name, model in self.recognizer.models.items()
            )
            readings = [int(label) for label in np.argmax(ensemble, axis=1)]
        valid = bool(parsed) and all(label is not None for label in parsed)
        # The review queue keeps valid labels only: an invalid reading is held under what the
        # models read, the given one is kept in ``predictions`` for the reviewer to see.
        labels = parsed if valid else (readings or [OTHER])
        record = self.drawings.hold(
            _png(image),
            labels,
            reason=reason,
            session_id=session_id,
            predictions={"given": _given_text(given), "models": label_text(readings)},
            segments=inputs if len(inputs) == len(labels) and len(inputs) else None,
        )
        return record.id

    def _record(self, update: Update) -> None:
        self.drawings.record_update(update.record())

    def _remember_correction(self, inputs: np.ndarray, labels: np.ndarray) -> None:
        pixels = np.round(np.clip(inputs, 0, 1) * 255).astype(np.uint8)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, images=pixels, labels=labels.astype(np.uint8))
        key = f"{CORRECTIONS_PREFIX}{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.npz"
        self.store.put(key, buffer.getvalue())
        for image, label in zip(inputs, labels, strict=True):
            self._corrections.append((image.astype(np.float32), int(label)))

    def _load_corrections(self) -> list[tuple[np.ndarray, int]]:
        corrections = []
        for key in sorted(self.store.list(CORRECTIONS_PREFIX))[-MAX_REPLAYED_CORRECTIONS:]:
            try:
                with np.load(io.BytesIO(self.store.get(key)), allow_pickle=False) as archive:
                    images, labels = archive["images"], archive["labels"]
            except Exception:  # a damaged record costs one replay sample, not the learner
                continue
            for image, label in zip(images, labels, strict=False):
                corrections.append((image.astype(np.float32) / 255, int(label)))
        return corrections


def _default_segmentation():
    from digitlib.segment import DEFAULT_PARAMS

    return DEFAULT_PARAMS


def _summary(done: list[str], kept: dict[str, str], attempts: int) -> str:
    """The ``Update.reason`` of a trained update."""
    if not done:
        unique = list(dict.fromkeys(kept.values()))
        return "; ".join(unique) + ": the live models stay"
    text = "promoted " + ", ".join(done)
    if attempts > 1:
        text += f" (re-applied on top of another learner's update, {attempts} attempts)"
    if kept:
        text += "; kept " + "; ".join(f"{name} ({reason})" for name, reason in kept.items())
    return text


def _given_text(labels) -> str:
    return labels if isinstance(labels, str) else " ".join(str(item) for item in labels)


def _png(image: np.ndarray | bytes) -> bytes:
    """The canvas as PNG bytes for the review queue (PNG/JPEG bytes are re-encoded only when
    they are not PNG)."""
    import cv2

    from digitlib.preprocess import check_image

    if isinstance(image, (bytes, bytearray)) and bytes(image[:8]) == b"\x89PNG\r\n\x1a\n":
        return bytes(image)
    array = check_image(image)
    if array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA)
    elif array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise ValueError("could not encode the drawing as PNG for the review queue")
    return encoded.tobytes()


def _spec_key(spec: ValidationSpec) -> str:
    return f"mnist{spec.mnist}-canvas{spec.canvas}-other{spec.other}-seed{spec.seed}"


def _model_metrics(metrics: dict, name: str) -> dict:
    """The part of an update's metrics that belongs in one model version's manifest."""
    keys = (name, "ensemble")
    return json.loads(
        json.dumps(
            {
                "validation": {
                    k: v for k, v in metrics.get("validation", {}).items() if k in keys
                },
                "segments": {k: v for k, v in metrics.get("segments", {}).items() if k in keys},
                "reference": {
                    k: v
                    for k, v in metrics.get("reference", {}).items()
                    if k in keys or k == "spec"
                },
                "gate": metrics.get("gate", {}),
            }
        )
    )


__all__ = [
    "LearnConfig",
    "LabeledImages",
    "OnlineLearner",
    "ReplaySpec",
    "Update",
    "ValidationSpec",
    "label_text",
    "mnist_evaluation_set",
    "parse_labels",
    "replay_pool",
    "validation_set",
]
