"""Read the digits of a canvas drawing: the ``Recognizer`` and ``load_recognizer``.

    >>> recognizer = load_recognizer()              # shipped checkpoints from models/
    >>> result = recognizer.recognize(image)        # (H, W[, 3|4]) uint8, or PNG/JPEG bytes
    >>> result.text, [segment.label for segment in result.segments]

A drawing is cut into segments (``digitlib.image.segment``), every segment becomes an MNIST-style 28x28
input, and all inputs of a drawing go through each model in one batch. When a drawing has several
segments, the whole drawing is classified too, in the same batch: a doodle often falls apart into
pieces that each look a bit like a digit, but the whole of it reads as "other", and its pieces do
not sit like the digits of a number (similar heights, on one line). Such a drawing is reported
as one "other" segment, so its text is "".
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from digitlib.config import (
    CHECKPOINT_FILES,
    MODEL_NAMES,
    OTHER,
    RUNTIMES,
    SHIPPED_MODELS_DIR,
    STROKE_MODEL,
)
from digitlib.image.segment import (  # noqa: F401  (prepare: the image layer's recipe, read from here too)
    DEFAULT_PARAMS,
    Box,
    Prepared,
    SegmentParams,
    prepare,
)
from digitlib.recognize.decision import (  # noqa: F401  (the decision's public names, read from here too)
    DecisionParams,
    FusionParams,
    decide,
    decide_segments,
    decide_whole,
    fuse,
    has_digit_shape,
    looks_like_number,
    union_box,
    whole_matters,
)
from digitlib.recognize.digit_gate import decide_one


@dataclass(frozen=True)
class Segment:
    """One segment of a drawing, as the models read it.

    ``label``: 0-9, or 10 (``digitlib.config.OTHER``) for "not a digit".
    ``confidence``: the chosen model's probability of ``label`` (0-1); for a segment made "other"
    because no digit was likely enough, the probability that it is none of the digits read.
    ``box``: (x, y, width, height) in image pixels.
    ``image``: the model input, float32 (28, 28) in [0, 1], white ink on black.
    ``probabilities``: model name -> 11 class probabilities, for every model and ``"ensemble"``.
    ``strokes``: when the drawing was read with its strokes, the indices of the strokes that
    make this segment, in drawing order (``digitlib.drawings.strokes.assign``); () without strokes.
    """

    label: int
    confidence: float
    box: Box
    image: np.ndarray
    probabilities: dict[str, list[float]]
    strokes: tuple[int, ...] = ()

    @property
    def is_digit(self) -> bool:
        return self.label != OTHER


@dataclass(frozen=True)
class Result:
    """What a drawing reads as.

    ``text``: the digits read, left to right; "other" segments are left out; "" when nothing was
    drawn or nothing reads as a digit. ``segments``: every segment, left to right, "other" ones
    included. ``model``: the model whose probabilities decided the labels.
    """

    text: str
    segments: list[Segment] = field(default_factory=list)
    model: str = "ensemble"


def _with_strokes(item: Prepared, strokes: Sequence | None) -> Prepared:
    """``item`` with its drawing's ``strokes`` checked against the image and given to its
    segments; ``item`` itself when ``strokes`` is None."""
    from digitlib.drawings import strokes as pen

    if strokes is None:
        return item
    if isinstance(strokes, str):
        raise ValueError(
            f"strokes must be a list of strokes, got the string {strokes!r}; to choose a "
            "model, pass it by name: recognize(image, model=...)"
        )
    checked = pen.check_strokes(strokes, item.size)
    return replace(item, strokes=checked, stroke_indices=pen.assign(checked, item.boxes))


class Recognizer:
    """Reads digits from canvas drawings with a set of models and their ensemble.

    Parameters
    ----------
    models : dict of name -> Classifier
        Usually ``{"numpy_fnn": ..., "fnn": ..., "cnn": ...}``; at least one.
    weights : dict of name -> float, optional
        Ensemble weights (``digitlib.models.Ensemble`` defaults when None).
    versions : dict of name -> version, optional
        Shown by ``versions``; ``"unversioned"`` for models not loaded from a store or folder.
    warnings : list of str, optional
        Problems met while loading (skipped checkpoints), shown by ``warnings``.
    decision, segmentation : DecisionParams, SegmentParams
        Thresholds.
    stroke_model : Classifier of (N, 64, 6) stroke inputs, optional
        Reads the pen's path of every segment drawn with strokes (``digitlib.drawings.strokes.encode``);
        its probabilities appear in ``Segment.probabilities`` under ``"strokes"``.
    fusion : FusionParams
        How a segment's stroke reading joins the image models' (``digitlib.recognize.decision.fuse``):
        for such a segment ``"ensemble"`` is the fused reading and ``"images"`` the image
        models' ensemble alone.
    """

    def __init__(
        self,
        models: Mapping[str, object],
        weights: Mapping[str, float] | None = None,
        *,
        versions: Mapping[str, int | str] | None = None,
        warnings: Sequence[str] = (),
        decision: DecisionParams = DecisionParams(),
        segmentation: SegmentParams = DEFAULT_PARAMS,
        stroke_model: object | None = None,
        fusion: FusionParams = FusionParams(),
    ) -> None:
        self.decision = decision
        self.fusion = fusion
        self.segmentation = segmentation
        self.warnings: list[str] = list(warnings)
        self._lock = threading.Lock()
        self._second_look_decision: tuple[DecisionParams, DecisionParams] | None = None
        self._state = self._build_state(models, weights, versions)
        #: (stroke model or None, its version): swapped whole, like ``_state``.
        self._strokes: tuple[object | None, int | str | None] = (None, None)
        if stroke_model is not None:
            self.set_stroke_model(stroke_model, (versions or {}).get(STROKE_MODEL, "unversioned"))

    @staticmethod
    def _build_state(models, weights, versions):
        from digitlib.models.ensemble import Ensemble

        if not isinstance(models, Mapping) or not models:
            raise ValueError(
                "models must be a non-empty dict of name -> Classifier, e.g. "
                "{'cnn': digitlib.models.load_model('models/cnn.keras')}"
            )
        for name, model in models.items():
            if not callable(getattr(model, "predict_proba", None)):
                raise ValueError(
                    f"model {name!r} has no predict_proba(images) method; expected a "
                    "digitlib.models.Classifier"
                )
        ensemble = Ensemble(dict(models), weights)
        known = dict(versions or {})
        versions = {name: known.get(name, "unversioned") for name in models}
        return ensemble, versions

    # --- models -------------------------------------------------------------------------------

    @property
    def ensemble(self):
        """The current models' ``digitlib.models.Ensemble``, read-only: ``set_models`` swaps it
        whole, so work that must see one set of models throughout takes it once."""
        return self._state[0]

    @property
    def models(self) -> dict[str, object]:
        """The current models, name -> Classifier (a copy of the mapping)."""
        return dict(self._state[0].models)

    @property
    def model_names(self) -> list[str]:
        """Names accepted by ``recognize(model=...)``: each model and ``"ensemble"``."""
        return [*self._state[0].models, "ensemble"]

    @property
    def versions(self) -> dict[str, int | str]:
        """Model name -> store version, or ``"shipped"`` for the checkpoints in ``models/``."""
        return dict(self._state[1])

    @property
    def weights(self) -> dict[str, float]:
        """The ensemble's normalized weights."""
        return dict(self._state[0].weights)

    def set_models(
        self,
        models: Mapping[str, object],
        weights: Mapping[str, float] | None = None,
        versions: Mapping[str, int | str] | None = None,
    ) -> None:
        """Swap in new models at once (online learning): a ``recognize`` call running meanwhile
        uses either the old set or the new one, never a mix.

        ``models`` replaces the named models; models not named are kept. ``weights`` default to
        the current ones for the models kept; ``versions`` name the new models' versions.
        """
        with self._lock:
            ensemble, old_versions = self._state
            merged = {**ensemble.models, **dict(models)}
            if weights is None:
                weights = {n: w for n, w in ensemble.weights.items() if n not in models}
                weights = weights if len(weights) == len(merged) else None
            new_versions = {**old_versions, **{name: "unversioned" for name in models}}
            new_versions.update(versions or {})
            state = self._build_state(merged, weights, new_versions)
            if not state[0].runs_keras_together:
                _warm_up(state[0])  # trace new Keras models now, not in the next recognize()
            # else the Keras models' shared function is traced by the next recognize() (~0.2 s
            # once): online learning, which calls this, does not wait for it.
            self._state = state

    @property
    def stroke_model(self) -> object | None:
        """The model that reads segments' strokes, or None (drawings are read from the image)."""
        return self._strokes[0]

    @property
    def stroke_version(self) -> int | str | None:
        """The stroke model's store version (``"shipped"`` for ``models/``), or None."""
        return self._strokes[1]

    def set_stroke_model(self, model: object | None, version: int | str = "unversioned") -> None:
        """Swap in a new stroke model (or None to read images only) at once."""
        if model is not None and not callable(getattr(model, "predict_proba", None)):
            raise ValueError(
                "the stroke model has no predict_proba(inputs) method; expected a "
                "digitlib.models.Classifier of (N, 64, 6) stroke inputs"
            )
        self._strokes = (model, version if model is not None else None)

    def explain(self, segment: Segment) -> np.ndarray:
        """Which ink made the ensemble read ``segment`` as it did: float32 (28, 28), positive
        where covering the ink lowers the probability of its label (``digitlib.recognize.explain``)."""
        from digitlib.recognize.explain import occlusion_map

        ensemble = self._state[0]
        return occlusion_map(ensemble.predict_proba, segment.image, int(segment.label))

    # --- reading ------------------------------------------------------------------------------

    def _check_model(self, model: str, ensemble) -> None:
        if model != "ensemble" and model not in ensemble.models:
            names = ", ".join(repr(name) for name in [*ensemble.models, "ensemble"])
            raise ValueError(f"unknown model {model!r}; choose one of {names}")

    def recognize(
        self,
        image: np.ndarray | bytes,
        strokes: Sequence | None = None,
        model: str = "ensemble",
    ) -> Result:
        """Read the digits of one drawing.

        Parameters
        ----------
        image : ndarray of shape (H, W), (H, W, 3) or (H, W, 4), uint8; or PNG/JPEG bytes
            Dark ink on light or transparent paper, as a canvas returns it.
        strokes : sequence of array-like of shape (n, 2) or (n, 3), optional
            The pen's path, in drawing order: per point x (column) and y (row) in the image's
            pixels, optionally a time in ms. Each stroke is given to the segment that holds
            it (``Segment.strokes``). Without strokes the image alone is read.
        model : str
            ``"ensemble"`` (default) or one model's name: whose probabilities decide the labels.

        Returns
        -------
        Result. Raises ``ValueError`` for an image that is not a canvas image (see
        ``digitlib.image.preprocess.check_image``), strokes that are not such arrays or leave the
        image (``digitlib.drawings.strokes.check_strokes``), or an unknown model name.
        """
        return self.recognize_many([image], model=model, strokes=[strokes])[0]

    def recognize_many(
        self,
        images: Sequence[np.ndarray | bytes],
        model: str = "ensemble",
        strokes: Sequence[Sequence | None] | None = None,
    ) -> list[Result]:
        """Read many drawings; all their segments go through each model in one batch, and the
        whole drawings whose reading depends on them (``whole_matters``) in a second.
        ``strokes``: one entry per image, each as ``recognize`` takes it (or None)."""
        ensemble, _ = self._state  # one snapshot: set_models() may swap meanwhile
        stroke_model, _ = self._strokes
        self._check_model(model, ensemble)
        if strokes is not None and len(strokes) != len(images):
            raise ValueError(
                f"strokes must hold one entry (a list of strokes, or None) per image: got "
                f"{len(strokes)} for {len(images)} images"
            )
        prepared = prepare_all(images, self.segmentation)
        if strokes is not None:
            prepared = [
                _with_strokes(item, drawn) for item, drawn in zip(prepared, strokes, strict=True)
            ]
        inputs = [array for item in prepared for array in item.inputs]
        if not inputs:
            return [Result("", [], model) for _ in prepared]
        stacked = np.stack(inputs)
        outputs = ensemble.predict_all(stacked)
        looked = np.zeros(0, np.int64)
        if self.decision.second_look:
            outputs, looked = second_look(
                ensemble, stacked, outputs, prepared, model, self.decision
            )
        return self.decide_many(
            prepared, outputs, looked, model=model, ensemble=ensemble, stroke_model=stroke_model
        )

    def decide_many(
        self,
        prepared: Sequence[Prepared],
        outputs: Mapping[str, np.ndarray],
        looked: np.ndarray,
        params: DecisionParams | None = None,
        model: str = "ensemble",
        *,
        ensemble: object | None = None,
        stroke_model: object | None = None,
        wholes: Mapping[int, tuple[np.ndarray, dict]] | None = None,
    ) -> list[Result]:
        """The readings of ``prepared`` drawings from their models' outputs: the last stage of
        ``recognize_many``, on its own so that many decisions can be compared on one run of the
        models (``digitlib.training.tune``).

        Parameters
        ----------
        prepared : sequence of ``Prepared``
            The drawings, as ``prepare_all`` cuts them.
        outputs : dict of name -> float32 (S, 11)
            Every model's probabilities of all the drawings' segment inputs, in order (the
            ensemble's ``predict_all`` of them, after any ``second_look``).
        looked : int64 (L,)
            The rows of ``outputs`` that ``second_look`` looked at again: their drawings are
            decided with ``params.second_look_confidence`` as the bar.
        params : DecisionParams, optional
            The decision; the recognizer's own when None.
        model : str
            ``"ensemble"`` or one model's name: whose probabilities decide the labels.
        ensemble : Ensemble, optional
            Reads the whole drawings the decision needs (``whole_needed``); the recognizer's
            current one when None.
        stroke_model : Classifier, optional
            Reads the strokes of drawings given with strokes; none are read when None.
        wholes : dict of drawing index -> ``read_wholes`` entry, optional
            Whole drawings read before: then no model runs, and it must hold every drawing whose
            reading needs its whole (every drawing of several segments is always enough).
        """
        params = self.decision if params is None else params
        if params is self.decision:
            after = self._after_second_look()
        else:
            after = replace(params, min_confidence=params.second_look_confidence)
        looked_rows = set(np.asarray(looked).tolist())
        pen_rows = read_strokes(stroke_model, prepared)
        readings, start = [], 0
        for item, pen_row in zip(prepared, pen_rows, strict=True):
            count = len(item.inputs)
            rows = {name: values[start : start + count] for name, values in outputs.items()}
            if pen_row is not None:
                rows = with_fusion(rows, pen_row, self.fusion)
            chosen = after if start in looked_rows else params
            labels = self._segment_labels(item, rows, model, chosen)
            readings.append((item, rows, chosen, start in looked_rows, labels))
            start += count
        needing = [
            index
            for index, (item, _, chosen, _, labels) in enumerate(readings)
            if whole_needed(item, chosen, labels)
        ]
        if wholes is None:
            ensemble = self.ensemble if ensemble is None else ensemble
            read = read_wholes(ensemble, [readings[index][0] for index in needing])
            whole_of = dict(zip(needing, read, strict=True))
        else:
            missing = [index for index in needing if index not in wholes]
            if missing:
                raise ValueError(
                    f"wholes holds no whole-drawing reading of drawings {missing[:5]}, which "
                    "the decision needs; pass read_wholes() of every drawing of several "
                    "segments, or wholes=None to read them here"
                )
            whole_of = {index: wholes[index] for index in needing}
        return [
            self._read(*reading, model, whole_of.get(index), stroke_model)
            for index, reading in enumerate(readings)
        ]

    def _after_second_look(self) -> DecisionParams:
        """The decision with the bar for a segment looked at again, made once per decision
        (``dataclasses.replace`` costs ~20 us, a fortieth of a reading)."""
        made = self._second_look_decision
        if made is None or made[0] is not self.decision:
            made = (
                self.decision,
                replace(self.decision, min_confidence=self.decision.second_look_confidence),
            )
            self._second_look_decision = made
        return made[1]

    @staticmethod
    def _segment_labels(
        item: Prepared, rows: dict[str, np.ndarray], model: str, params: DecisionParams
    ) -> list[tuple[int, float]] | None:
        """``decide_segments`` for one drawing; None when it has no ink or the learned gate
        decides (one segment, the ensemble)."""
        if not item.inputs or (
            params.gate is not None and model == "ensemble" and len(item.boxes) == 1
        ):
            return None
        return decide_segments(rows[model], item.boxes, params, item.shapes or None)

    def _read(
        self,
        item: Prepared,
        rows: dict[str, np.ndarray],
        params: DecisionParams,
        looked_again: bool,
        labels: list[tuple[int, float]] | None,
        model: str,
        whole: tuple[np.ndarray, dict] | None,
        stroke_model: object | None = None,
    ) -> Result:
        if not item.inputs:
            return Result("", [], model)
        if labels is None:  # the learned gate decides one segment read by the ensemble
            probabilities = {
                name: values[0].tolist()
                for name, values in rows.items()
                if not np.isnan(values[0, 0])
            }
            shape = item.shapes[0] if item.shapes else (0, 0.0, 0)
            label, confidence = decide_one(
                params.gate, probabilities, shape, item.boxes[0], looked_again
            )
            segment = Segment(
                label, confidence, item.boxes[0], item.inputs[0], probabilities, item.owned(0)
            )
            return Result("" if label == OTHER else str(label), [segment], model)
        if whole is not None:  # given only where ``whole_needed``
            whole_image, whole_rows = whole
            label = decide_whole(labels, whole_rows[model], item.boxes, params)
            if label is not None:
                probabilities = {name: values.tolist() for name, values in whole_rows.items()}
                whole_strokes = item.owned(None)
                if stroke_model is not None and whole_strokes:
                    drawn = [item.strokes[i] for i in whole_strokes]
                    row = stroke_model.predict_proba(encode_strokes([drawn]))[0]
                    probabilities[STROKE_MODEL] = row.tolist()
                segment = Segment(
                    label,
                    float(whole_rows[model][label]),
                    item.whole_box,
                    whole_image,
                    probabilities,
                    item.owned(None),
                )
                return Result("" if label == OTHER else str(label), [segment], model)
        segments = []
        for index, (label, confidence) in enumerate(labels):
            probabilities = {
                name: values[index].tolist()
                for name, values in rows.items()
                if not np.isnan(values[index, 0])
            }
            segments.append(
                Segment(
                    label,
                    confidence,
                    item.boxes[index],
                    item.inputs[index],
                    probabilities,
                    item.owned(index),
                )
            )
        text = "".join(str(segment.label) for segment in segments if segment.label != OTHER)
        return Result(text, segments, model)


def with_fusion(
    rows: dict[str, np.ndarray], pen_rows: np.ndarray, params: FusionParams
) -> dict[str, np.ndarray]:
    """One drawing's model rows (name -> float32 (S, 11)) with the stroke model's ``pen_rows``
    (S, 11; NaN rows for segments without strokes) added as ``"strokes"``, the image ensemble
    kept as ``"images"`` and ``"ensemble"`` fused with the strokes where there are strokes
    (``digitlib.recognize.decision.fuse``). ``rows`` is not changed."""
    drawn = ~np.isnan(pen_rows[:, 0])
    fused = rows["ensemble"].copy()
    if drawn.any():
        fused[drawn] = fuse(rows["ensemble"][drawn], pen_rows[drawn], params)
    return {**rows, "images": rows["ensemble"], STROKE_MODEL: pen_rows, "ensemble": fused}


def encode_strokes(drawings: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """The stroke model's input for each drawing's strokes: float32 (N, 64, 6)."""
    from digitlib.drawings.strokes import encode_many

    return encode_many(drawings)


def read_strokes(stroke_model, prepared: Sequence[Prepared]) -> list[np.ndarray | None]:
    """The stroke model's probabilities of every segment drawn with strokes, in one batch: per
    drawing None (no stroke model, or no strokes given) or float32 (S, 11), NaN rows for the
    segments that no stroke belongs to."""
    if stroke_model is None:
        return [None] * len(prepared)
    wanted = [
        (index, segment, [item.strokes[i] for i in indices])
        for index, item in enumerate(prepared)
        if item.stroke_indices is not None
        for segment, indices in enumerate(item.stroke_indices)
        if indices
    ]
    rows: list[np.ndarray | None] = [
        np.full((len(item.inputs), 11), np.nan, np.float32)
        if item.stroke_indices is not None and item.inputs
        else None
        for item in prepared
    ]
    if not wanted:
        return rows
    probabilities = stroke_model.predict_proba(encode_strokes([drawn for _, _, drawn in wanted]))
    for (index, segment, _), row in zip(wanted, probabilities, strict=True):
        rows[index][segment] = row
    return rows


def whole_needed(
    item: Prepared, params: DecisionParams, labels: list[tuple[int, float]] | None
) -> bool:
    """Whether the reading of ``item`` (segments decided as ``labels``; None when the learned
    gate decides) needs its whole drawing's input read (``whole_matters``)."""
    return (
        labels is not None
        and item.whole_input is not None
        and whole_matters(labels, item.boxes, params)
    )


def read_wholes(ensemble, items: Sequence[Prepared]) -> list[tuple[np.ndarray, dict]]:
    """The whole-drawing input of each of ``items`` (drawings of several segments) and every
    model's probabilities of it, in one batch: a list of (float32 (28, 28), name -> float32
    (11,))."""
    if not items:
        return []
    inputs = np.stack([item.whole_input() for item in items])
    outputs = ensemble.predict_all(inputs)
    return [
        (inputs[row], {name: values[row] for name, values in outputs.items()})
        for row in range(len(items))
    ]


#: Below this many drawings, threads cost more than they save.
_PARALLEL_MIN = 8
#: Threads for many drawings: the cores, at most 4 (counted once: ``os.cpu_count()`` reads
#: /sys and took 0.09 ms, a tenth of a one-digit reading).
_PREPARE_WORKERS = min(os.cpu_count() or 1, 4)


def prepare_all(images: Sequence[np.ndarray | bytes], params: SegmentParams) -> list[Prepared]:
    """``prepare`` every drawing; many drawings are spread over the CPU's cores (OpenCV and most
    of NumPy release the GIL)."""
    workers = _PREPARE_WORKERS
    if len(images) < _PARALLEL_MIN or workers < 2:
        return [prepare(image, params) for image in images]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda image: prepare(image, params), images, chunksize=16))


def second_look(
    ensemble,
    inputs: np.ndarray,
    outputs: dict[str, np.ndarray],
    prepared: Sequence[Prepared],
    model: str,
    params: DecisionParams,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Look again at one-segment drawings that ``model`` reads as a digit with less than
    ``params.second_look_below``: every model's probabilities of such a segment become their
    mean over ``augment.second_look_variants`` of its input (the input itself, slightly
    rotated, scaled, thickened and thinned), as a person tilts their head at an unclear digit.
    (In a drawing of several segments, the number rule of ``decide`` judges unsure segments.)
    Returns ``(outputs, looked)``: new arrays (``outputs`` is not changed) and the int64 rows
    that were looked at again.
    """
    from digitlib.image.augment import second_look_variants

    segment_rows, start = [], 0
    for item in prepared:
        if len(item.boxes) == 1:
            segment_rows.append(start)
        start += len(item.inputs)
    segment_rows = np.asarray(segment_rows, np.int64)
    if not len(segment_rows):  # no drawing of one segment (a number): nothing to look at
        return outputs, segment_rows
    chosen = outputs[model][segment_rows]
    best = chosen.argmax(axis=1)
    unsure = segment_rows[
        (best != OTHER) & (chosen[np.arange(len(chosen)), best] < params.second_look_below)
    ]
    if not len(unsure):
        return outputs, unsure
    variants = second_look_variants(inputs[unsure])
    count = variants.shape[1]
    looked = ensemble.predict_all(variants.reshape(-1, 28, 28))
    updated = {}
    for name, values in outputs.items():
        values = values.copy()
        values[unsure] = looked[name].reshape(len(unsure), count, -1).mean(axis=1)
        updated[name] = values
    return updated, unsure


def _warm_up(ensemble) -> None:
    """One prediction, so Keras traces its graph now rather than in the first ``recognize``."""
    ensemble.predict_all(np.zeros((1, 28, 28), np.float32))


def _load_checkpoint(path: Path, name: str, runtime: str) -> tuple[object, list[str]]:
    """One model of a folder: the checkpoint itself, or for a Keras model read lean, its
    inference file (``models.inference.inference_beside``). Returns (model, warnings)."""
    from digitlib.models import load_model

    if runtime == "keras" or path.suffix != ".keras":
        return load_model(path, name), []
    from digitlib.models.inference import inference_beside

    model, _, warnings = inference_beside(path, name)
    return model, warnings


#: Every model a recognizer loads: the image models and the stroke model.
_LOADED = (*MODEL_NAMES, STROKE_MODEL)


def _load_from_folder(models_dir: Path, runtime: str) -> tuple[dict, dict, list[str]]:
    models, versions, warnings = {}, {}, []
    for name in _LOADED:
        path = models_dir / CHECKPOINT_FILES[name]
        if not path.is_file():
            warnings.append(f"{name}: no checkpoint at {path}; the model is left out")
            continue
        try:
            models[name], remade = _load_checkpoint(path, name, runtime)
        except Exception as error:  # a corrupt or unsafe checkpoint: skip it, say so
            warnings.append(f"{name}: checkpoint {path} skipped: {error}")
            continue
        warnings += remade
        versions[name] = "shipped"
    return models, versions, warnings


def _load_from_store(store, models_dir: Path | None, runtime: str) -> tuple[dict, dict, list[str]]:
    from digitlib.models import load_model
    from digitlib.store import ModelRegistry, open_store

    if isinstance(store, str | Path):
        store = open_store(str(store))
    registry = ModelRegistry(store, shipped_dir=models_dir)
    models, versions, warnings = {}, {}, []
    for name in _LOADED:
        try:
            if runtime == "lean":
                loaded = registry.load_inference(name)
            else:
                loaded = registry.load(name, loader=lambda path, name=name: load_model(path, name))
        except Exception as error:  # ModelUnavailable: nothing loads, not even the shipped one
            warnings.extend(getattr(error, "warnings", None) or [f"{name}: {error}"])
            continue
        warnings.extend(loaded.warnings)
        models[name] = loaded.model
        versions[name] = loaded.version if loaded.version is not None else "shipped"
    return models, versions, warnings


#: Beside the stroke model's checkpoint: the fusion chosen for it (``FusionParams`` fields).
FUSION_FILE = "fusion.json"


def read_fusion(models_dir: Path) -> FusionParams:
    """The ``FusionParams`` in ``models_dir/fusion.json``; the defaults when there is none.
    Raises ``ValueError`` naming the file when it is not such a JSON object."""
    import json
    from dataclasses import fields

    path = Path(models_dir) / FUSION_FILE
    if not path.is_file():
        return FusionParams()
    known = {f.name for f in fields(FusionParams)}
    try:
        values = json.loads(path.read_text())
        if not isinstance(values, dict) or not set(values) <= known:
            raise ValueError(f"expected an object with some of {sorted(known)}")
        return FusionParams(**{k: float(v) for k, v in values.items()})
    except ValueError as error:
        raise ValueError(f"{path}: not a fusion file ({error})") from None


def load_recognizer(
    models_dir: str | Path | None = None,
    store: object | None = None,
    weights: Mapping[str, float] | None = None,
    *,
    runtime: str = "lean",
) -> Recognizer:
    """A ``Recognizer`` with every model that loads.

    Parameters
    ----------
    models_dir : path, optional
        Folder of checkpoints (``numpy_fnn.npz``, ``fnn.keras``, ``cnn.keras`` and the stroke
        model's ``strokes.keras``); the shipped ``models/`` when None.
    store : Store or store URL, optional
        When given, each model's current version is loaded from the store's model registry
        (``digitlib.store.ModelRegistry``), falling back to older versions and then to the
        checkpoint in ``models_dir``.
    weights : dict, optional
        Ensemble weights.
    runtime : "lean" or "keras"
        ``"lean"`` (default) reads the Keras models' inference files with LiteRT and NumPy: no
        TensorFlow is imported. ``"keras"`` loads the ``.keras`` checkpoints in TensorFlow (the
        way to compare, and what training uses).

    A checkpoint that is missing, corrupt or unsafe is skipped and named in
    ``Recognizer.warnings``; ``ValueError`` when no model at all loads.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    folder = Path(models_dir) if models_dir is not None else SHIPPED_MODELS_DIR
    if store is not None:
        models, versions, warnings = _load_from_store(store, folder, runtime)
    else:
        models, versions, warnings = _load_from_folder(folder, runtime)
    stroke_model = models.pop(STROKE_MODEL, None)
    if not models:
        problems = "\n  ".join(warnings)
        raise ValueError(
            f"no model could be loaded from {folder}"
            + (f" or the store {getattr(store, 'url', store)}" if store is not None else "")
            + f":\n  {problems}\nFix: run `digitlib train` to write the checkpoints, or pass "
            "models_dir= the folder that holds them."
        )
    weights = {n: w for n, w in weights.items() if n in models} if weights else None
    recognizer = Recognizer(
        models,
        weights,
        versions=versions,
        warnings=warnings,
        stroke_model=stroke_model,
        fusion=read_fusion(folder),
    )
    _warm_up(recognizer._state[0])
    return recognizer


__all__ = [
    "CHECKPOINT_FILES",
    "DecisionParams",
    "Recognizer",
    "Result",
    "Segment",
    "decide",
    "load_recognizer",
    "looks_like_number",
    "prepare",
    "prepare_all",
    "second_look",
]
