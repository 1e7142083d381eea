"""Settings of online learning: the validation set, the replay pool and ``LearnConfig``."""

from __future__ import annotations

from dataclasses import dataclass, field

from digitlib.learn.gate import GateBounds


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
class StrokeSpec:
    """What the stroke model learns from corrections with (each built once per process).

    ``validation``: its gate's set, at most this many drawings of each part of the hands the
    stroke model never trained on (``train_strokes.fusion_drawings``: the fusion writers'
    pendigits, a UNIPEN institution's digits and its letters and signs), encoded as drawn.
    ``replay``: its replay pool, at most this many of each part of its training drawings
    (``train_strokes.training_drawings``), one augmented variant each. ``variants``: augmented
    variants of each corrected segment in an update's batch (other orders, directions, a finger
    or a mouse).
    """

    validation: int = 1200
    replay: int = 400
    variants: int = 24
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("validation", "replay", "variants"):
            if getattr(self, name) < 0:
                raise ValueError(f"StrokeSpec.{name} must be >= 0, got {getattr(self, name)}")
        if self.validation == 0:
            raise ValueError("StrokeSpec.validation must be > 0: the gate needs drawings")


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
    strokes : the stroke model's validation set, replay pool and variants (``StrokeSpec``). It
        learns from corrections drawn with their strokes, through the same candidates, gate and
        promotion as the image models, its head alone (``keras_layers``).
    models : names of the models to train (None: every model of the recognizer, the stroke
        model included when it has one).
    seed : seeds the augmentation, replay sampling and training order.
    """

    learning_rates: dict = field(
        default_factory=lambda: {"numpy_fnn": 1.5e-3, "fnn": 1.5e-3, "cnn": 4e-3, "strokes": 4e-3}
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
    strokes: StrokeSpec = field(default_factory=StrokeSpec)
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

    @property
    def bounds(self) -> GateBounds:
        """The gate's bounds (``tolerance``, ``noise_sigmas``, ``max_drift``, ``model_drift``)."""
        return GateBounds(self.tolerance, self.noise_sigmas, self.max_drift, self.model_drift)

    def layers_of(self, name: str) -> str:
        """What of the Keras model ``name`` is fine-tuned: "top" or "all"."""
        if isinstance(self.keras_layers, dict):
            return dict(self.keras_layers).get(name, "top")
        return self.keras_layers


def spec_key(spec: ValidationSpec | StrokeSpec) -> str:
    """Names a validation set in manifests (a reference accuracy holds for that set only)."""
    if isinstance(spec, StrokeSpec):
        return f"strokes{spec.validation}-seed{spec.seed}"
    return f"mnist{spec.mnist}-canvas{spec.canvas}-other{spec.other}-seed{spec.seed}"
