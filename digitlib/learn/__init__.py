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
   live models are never touched. A drawing learned with its strokes also trains the stroke
   model the same way, on each segment's strokes and their variants in other orders and
   directions, with replay of its own training drawings (``StrokeSpec``).
4. **Gate**: the copies are scored on a fixed validation set (``ValidationSpec``: MNIST test digits
   of the even rows, canvas renderings of training writers' digits, "other" drawings), on the
   whole set and on each part, and on the segments themselves. A copy that loses more than
   ``tolerance`` against the live model (a single model: or more than ``noise_sigmas`` standard
   errors of the paired measurement), or ends more than ``model_drift`` below the reference
   accuracy of its lineage while losing anything, keeps its live model; so do all when the
   ensemble fails the same bounds (``tolerance``, ``max_drift``). The stroke model is gated
   alone, on drawings of hands it never trained on (``stroke_validation_set``).
5. **Promote**: the copies that passed are saved as new versions in the registry (parent,
   metrics, ``produced_by="online update"``), the ``current`` pointers are moved with
   conditional promotion (when another learner promoted first, the update is re-applied on top
   of the winner) and the recognizer swaps to them atomically. Every update, promoted or not, is
   recorded in the store's update log.

The gate is cheap, and sees what readers will see: the Keras models are fine-tuned above their
declared feature part, so a candidate is scored on the whole set with its new head (NumPy) on
the features the live inference file computes, cached per feature part. With ``keras_layers="all"`` a candidate is instead scored on the validation images the
live models are unsure of (margin below ``gate_margin``) plus a random control sample of the
sure ones, and on the whole set when any control image changes its reading
(``update.metrics.gate.exact``).

The package's parts: ``config`` (``LearnConfig`` and the specs), ``labels``, ``datasets`` (the
validation sets and replay pools), ``corrections`` (screening, the review queue, corrections kept for replay),
``candidates`` (the training batch and the fine-tuned copies, each trained by its
``Classifier.fine_tune``, a Keras copy with a traced ``digitlib.models.keras_tuning`` trainer
attached), ``scoring`` (the probability
tables for the gate, and the ``Scored`` result), ``gate`` (pure functions from probability
tables to a ``Verdict``), ``publish`` (saving and promoting versions in the registry),
``report`` (``Update`` and its typed figures) and ``learner`` (``OnlineLearner``, which wires
them to the recognizer and the store).
"""

from digitlib.learn.config import LearnConfig, ReplaySpec, StrokeSpec, ValidationSpec
from digitlib.learn.datasets import (
    LabeledImages,
    mnist_evaluation_set,
    replay_pool,
    share_cache,
    validation_set,
)
from digitlib.learn.gate import GateBounds, Verdict, judge, loss_problem
from digitlib.learn.labels import label_text, parse_labels
from digitlib.learn.learner import OnlineLearner
from digitlib.learn.report import (
    Change,
    GateFigures,
    SegmentFigures,
    TrainFigures,
    Update,
    UpdateMetrics,
    ValidationFigures,
)

__all__ = [
    "Change",
    "GateBounds",
    "GateFigures",
    "LabeledImages",
    "LearnConfig",
    "OnlineLearner",
    "ReplaySpec",
    "StrokeSpec",
    "SegmentFigures",
    "TrainFigures",
    "Update",
    "UpdateMetrics",
    "ValidationFigures",
    "ValidationSpec",
    "Verdict",
    "judge",
    "label_text",
    "loss_problem",
    "mnist_evaluation_set",
    "parse_labels",
    "replay_pool",
    "share_cache",
    "validation_set",
]
