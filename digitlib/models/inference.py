"""Inference files: what reads drawings, made from the ``.keras`` checkpoints that train.

A Keras checkpoint (``cnn.keras``) is what training and fine-tuning write; reading a drawing
needs none of TensorFlow. Beside each Keras checkpoint sits a derived **inference file**
(``cnn.infer.npz``), a NumPy archive of plain arrays (``allow_pickle=False``) holding:

- ``features_tflite``: the model's feature part (input (N, 28, 28) float32 -> features (N, F)),
  exported to a LiteRT flatbuffer (uint8 bytes) and run by ``ai_edge_litert``;
- ``head_*``: the fine-tunable head on top of the features (the CNN's dense block, the FNN's
  second hidden layer, and the softmax) as plain weights, batch norm folded in, run by NumPy;
- ``source_sha256``: the sha256 of the ``.keras`` file it was made from (a newer checkpoint
  makes it stale); ``features_fingerprint``: a hash of the feature part's weights, so that a
  model whose head alone was fine-tuned reuses its parent's flatbuffer instead of exporting
  again (~0.5-1 s per model).

Where the features end is declared by the model factories (a layer named ``"features"``); for
checkpoints made before they named it, it is the input of the second-to-last ``Dense`` layer.

``InferenceModel`` reads such a file: ``predict_proba`` like any ``Classifier``, in ~0.05 ms per
image for the shipped CNN in a process with no TensorFlow. ``export_inference`` (imports
TensorFlow) makes one from a Keras model and refuses to write a file that disagrees with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlib.config import NUM_CLASSES
from digitlib.models.base import CheckpointError, check_inputs

#: The ``format`` entry of inference files this code writes and reads.
FORMAT = "digitlib-inference-1"
#: File suffix of inference files (``cnn.keras`` -> ``cnn.infer.npz``).
SUFFIX = ".infer.npz"
#: Name of the layer whose output is the feature part's output, in models made by the factories.
FEATURES_LAYER = "features"
#: Largest absolute difference in probability allowed between an inference file and its model.
PARITY_TOLERANCE = 1e-4
#: Head operations understood by ``InferenceModel``.
HEAD_OPERATIONS = ("affine", "relu", "softmax")

_BATCH = 2048
#: Inputs per LiteRT call: the interpreter keeps the arena of the largest batch it ran, so
#: scoring a 3,500-input validation set in batches of 2,048 left a process at 333 MB resident,
#: in batches of 16 at 93 MB, and no slower (0.18 s against 0.24-0.34 s: the small arena stays
#: in cache). A reading's saliency (49 inputs) runs as 4 calls.
_LITERT_BATCH = 16
#: LiteRT threads for a call of several inputs (a number's digits, a batch): two where there are
#: two cores, as the TensorFlow path uses every core. A number of 5 digits: the CNN's call 0.25 ->
#: 0.13 ms. One input stays on one thread: it gains nothing, and XNNPACK's second thread spins
#: after each call (0.13 ms of CPU), which a crowd of kernels on one machine would pay per stroke.
_MANY_THREADS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
_stderr_lock = threading.RLock()  # nested quieting (predict around a load) must not block


def inference_path(checkpoint: str | os.PathLike) -> Path:
    """The inference file that belongs beside ``checkpoint`` (``x/cnn.keras`` -> ``x/cnn.infer.npz``)."""
    path = Path(checkpoint)
    return path.with_name(path.name.removesuffix(path.suffix) + SUFFIX)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class HeadLayer:
    """One operation of a head: ``"affine"`` (``features @ weight + bias``, weight float32
    (F_in, F_out), bias float32 (F_out,)), ``"relu"`` or ``"softmax"`` (no arrays)."""

    operation: str
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what native code writes to file descriptor 2 meanwhile (LiteRT announces its
    XNNPACK delegate on stderr once per process; a reading must not print log lines)."""
    with _stderr_lock:
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all
            yield
            return
        try:
            with open(os.devnull, "wb") as devnull:
                os.dup2(devnull.fileno(), 2)
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def run_head(head: Sequence[HeadLayer], features: np.ndarray) -> np.ndarray:
    """Apply ``head`` to ``features`` float32 (N, F); returns float32 (N, 11) probabilities."""
    values = np.asarray(features, np.float32)
    for layer in head:
        if layer.operation == "affine":
            values = values @ layer.weight + layer.bias
        elif layer.operation == "relu":
            values = np.maximum(values, 0)
        else:
            values = _softmax(values)
    return np.asarray(values, np.float32)


class InferenceModel:
    """A ``Classifier`` for reading only, from an inference file (see the module docstring).

    Parameters
    ----------
    features_tflite : bytes
        LiteRT flatbuffer of the feature part: float32 (N, 28, 28) -> float32 (N, F).
    head : sequence of HeadLayer
        Ends in ``"softmax"`` over 11 classes.
    name : str
    source_sha256, features_fingerprint : str
        See the module docstring.

    Not trainable: ``fine_tune`` raises. Online learning trains the Keras checkpoint and makes a
    new inference file (``with_head``). Thread-safe: its LiteRT interpreters (one thread for one
    input, ``_MANY_THREADS`` for several) are used under a lock.
    """

    def __init__(
        self,
        features_tflite: bytes,
        head: Sequence[HeadLayer],
        *,
        name: str,
        source_sha256: str = "",
        features_fingerprint: str = "",
    ) -> None:
        head = list(head)
        if not head or head[-1].operation != "softmax":
            raise ValueError("an inference head must end in a softmax")
        for layer in head:
            if layer.operation not in HEAD_OPERATIONS:
                raise ValueError(
                    f"unknown head operation {layer.operation!r}; expected one of "
                    f"{HEAD_OPERATIONS}"
                )
        self.name = name
        self.features_tflite = bytes(features_tflite)
        self.head = head
        self.source_sha256 = source_sha256
        self.features_fingerprint = features_fingerprint
        self._lock = threading.Lock()
        #: threads -> [LiteRT interpreter, the batch size its tensors are allocated for]
        self._interpreters: dict[int, list] = {}
        self._input_shape: tuple[int, ...] | None = None
        #: The interpreter's input and output tensor indices (``get_*_details`` builds a list of
        #: dicts each call: 5 us, three times a reading).
        self._entry = self._exit = -1
        outputs = [layer.weight.shape[1] for layer in head if layer.operation == "affine"]
        if not outputs or outputs[-1] != NUM_CLASSES:
            raise ValueError(f"an inference head must end in {NUM_CLASSES} classes")

    # --- running ------------------------------------------------------------------------------

    def _interpreter_for(self, batch: int):
        threads = _MANY_THREADS if batch > 1 else 1
        slot = self._interpreters.get(threads)
        if slot is None:
            from ai_edge_litert.interpreter import Interpreter

            with quiet_native_stderr():
                interpreter = Interpreter(model_content=self.features_tflite, num_threads=threads)
                interpreter.allocate_tensors()
                # The XNNPACK delegate is announced at the first invocation.
                details = interpreter.get_input_details()[0]
                entry = details["index"]
                self._input_shape = tuple(int(v) for v in details["shape"][1:])
                interpreter.set_tensor(entry, np.zeros((1, *self._input_shape), np.float32))
                interpreter.invoke()
            self._entry = entry
            self._exit = interpreter.get_output_details()[0]["index"]
            slot = self._interpreters[threads] = [interpreter, 1]
        interpreter = slot[0]
        if batch != slot[1]:
            interpreter.resize_tensor_input(self._entry, [batch, *self.input_shape])
            interpreter.allocate_tensors()
            slot[1] = batch
        return interpreter

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One input's shape, read from the flatbuffer: (28, 28) for the image models, (64, 6)
        for the stroke model."""
        if self._input_shape is None:
            with self._lock:
                self._interpreter_for(1)
        return self._input_shape

    def feature_rows(self, images: np.ndarray) -> np.ndarray:
        """The feature part's output: float32 (N, F) for ``images`` float32 (N, 28, 28) (or
        (N, 64, 6) strokes)."""
        images = check_inputs(images, self.input_shape)
        parts = []
        with self._lock:
            for start in range(0, len(images), _LITERT_BATCH):
                batch = images[start : start + _LITERT_BATCH]
                interpreter = self._interpreter_for(len(batch))
                interpreter.set_tensor(self._entry, batch)
                interpreter.invoke()
                parts.append(interpreter.get_tensor(self._exit))
        if not parts:
            return np.zeros((0, self.feature_width), np.float32)
        return np.concatenate(parts).astype(np.float32, copy=False)

    @property
    def feature_width(self) -> int:
        return int(self.head[0].weight.shape[0])

    def probabilities(self, feature_rows: np.ndarray) -> np.ndarray:
        """The head's probabilities (N, 11) float32 for features (N, F) float32."""
        return run_head(self.head, feature_rows)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, 11) float32 for ``images`` (N, 28, 28) float32 in [0, 1] (or
        (N, 64, 6) strokes)."""
        images = check_inputs(images, self.input_shape)
        if len(images) == 0:
            return np.zeros((0, NUM_CLASSES), np.float32)
        return self.probabilities(self.feature_rows(images))

    def with_head(self, head: Sequence[HeadLayer], *, source_sha256: str) -> InferenceModel:
        """The same feature part with another head (a fine-tuned version of this model)."""
        return InferenceModel(
            self.features_tflite,
            head,
            name=self.name,
            source_sha256=source_sha256,
            features_fingerprint=self.features_fingerprint,
        )

    # --- Classifier protocol: reading only ----------------------------------------------------

    def fine_tune(self, *args, **kwargs) -> None:
        raise TypeError(
            f"{self.name} is an inference file for reading; fine-tune its .keras checkpoint "
            "(digitlib.models.load_model) and export a new inference file"
        )

    def copy(self) -> InferenceModel:
        return InferenceModel(
            self.features_tflite,
            self.head,
            name=self.name,
            source_sha256=self.source_sha256,
            features_fingerprint=self.features_fingerprint,
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write the inference file (``.infer.npz``) atomically."""
        path = Path(path)
        if not path.name.endswith(SUFFIX):
            raise ValueError(f"inference files end in {SUFFIX}, got {path.name!r}")
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_bytes(self.to_bytes())
        os.replace(temporary, path)

    def to_bytes(self) -> bytes:
        arrays = {
            "format": np.array(FORMAT),
            "name": np.array(self.name),
            "source_sha256": np.array(self.source_sha256),
            "features_fingerprint": np.array(self.features_fingerprint),
            "features_tflite": np.frombuffer(self.features_tflite, np.uint8),
            "head_operations": np.array([layer.operation for layer in self.head]),
        }
        for index, layer in enumerate(self.head):
            if layer.operation == "affine":
                arrays[f"head_{index}_weight"] = layer.weight.astype(np.float32)
                arrays[f"head_{index}_bias"] = layer.bias.astype(np.float32)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(
        cls, data: bytes, name: str | None = None, *, origin: str = ""
    ) -> InferenceModel:
        """Read an inference file's bytes; ``CheckpointError`` saying what is wrong otherwise."""
        where = f"{origin}: " if origin else ""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
        except Exception as error:
            raise CheckpointError(f"{where}not a readable inference file ({error})") from error
        if str(arrays.get("format", "")) != FORMAT:
            raise CheckpointError(
                f"{where}not a digitlib inference file of format {FORMAT!r}; remake it from its "
                ".keras checkpoint (digitlib models export)"
            )
        try:
            head = []
            for index, operation in enumerate(arrays["head_operations"].tolist()):
                if operation == "affine":
                    head.append(
                        HeadLayer(
                            "affine",
                            arrays[f"head_{index}_weight"].astype(np.float32),
                            arrays[f"head_{index}_bias"].astype(np.float32),
                        )
                    )
                else:
                    head.append(HeadLayer(str(operation)))
            return cls(
                arrays["features_tflite"].tobytes(),
                head,
                name=name or str(arrays["name"]),
                source_sha256=str(arrays["source_sha256"]),
                features_fingerprint=str(arrays["features_fingerprint"]),
            )
        except (KeyError, ValueError, IndexError) as error:
            raise CheckpointError(f"{where}damaged inference file ({error})") from error

    @classmethod
    def load(cls, path: str | os.PathLike, name: str | None = None) -> InferenceModel:
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such inference file")
        model = cls.from_bytes(path.read_bytes(), name, origin=str(path))
        model._check_runs(str(path))
        return model

    def _check_runs(self, origin: str) -> None:
        """Run one input through the file, so a damaged flatbuffer fails at load, not reading."""
        try:
            probabilities = self.predict_proba(np.zeros((1, *self.input_shape), np.float32))
        except Exception as error:
            raise CheckpointError(
                f"{origin}: the inference file does not run ({error})"
            ) from error
        if probabilities.shape != (1, NUM_CLASSES) or not np.isfinite(probabilities).all():
            raise CheckpointError(f"{origin}: the inference file gives no probabilities")


def load_inference(data: bytes, name: str, *, origin: str = "") -> InferenceModel:
    """An ``InferenceModel`` from an inference file's bytes, checked to run."""
    model = InferenceModel.from_bytes(data, name, origin=origin)
    model._check_runs(origin or name)
    return model


# --- making inference files (imports TensorFlow) ------------------------------------------------


def split_layers(model) -> tuple[object, list]:
    """The tensor where ``model``'s feature part ends and the layers of its head, in order.

    The factories name that layer ``"features"``; in older checkpoints the features are the
    input of the second-to-last ``Dense`` layer. Raises ``ValueError`` for a model whose head is
    not a chain of Dense, BatchNormalization, Activation and Dropout layers.
    """
    import keras

    layers = list(model.layers)
    names = [layer.name for layer in layers]
    if FEATURES_LAYER in names:
        index = names.index(FEATURES_LAYER)
        feature, head = layers[index].output, layers[index + 1 :]
    else:
        dense = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
        if len(dense) < 2:
            raise ValueError(f"{model.name}: no feature part to split off (fewer than 2 Dense)")
        index = layers.index(dense[-2])
        feature, head = dense[-2].input, layers[index:]
    allowed = (
        keras.layers.Dense,
        keras.layers.BatchNormalization,
        keras.layers.Activation,
        keras.layers.Dropout,
    )
    previous = feature
    for layer in head:
        if not isinstance(layer, allowed) or layer.input is not previous:
            raise ValueError(
                f"{model.name}: the head must be a chain of Dense, BatchNormalization, "
                f"Activation and Dropout layers; {layer.name} is not"
            )
        previous = layer.output
    if previous is not model.outputs[0]:
        raise ValueError(f"{model.name}: the head does not end at the model's output")
    return feature, head


def _activation(name: str) -> list[HeadLayer]:
    if name == "linear":
        return []
    if name in ("relu", "softmax"):
        return [HeadLayer(name)]
    raise ValueError(f"activation {name!r} is not supported in an inference head")


def head_layers(layers: Sequence) -> list[HeadLayer]:
    """The head of Keras ``layers`` (a chain, see ``split_layers``) as ``HeadLayer`` s, batch
    norm folded into the affine operation before it (inference mode: moving statistics)."""
    import keras

    head: list[HeadLayer] = []
    for layer in layers:
        if isinstance(layer, keras.layers.Dense):
            weights = [np.asarray(w, np.float64) for w in layer.get_weights()]
            bias = weights[1] if layer.use_bias else np.zeros(weights[0].shape[1])
            head.append(HeadLayer("affine", weights[0], bias))
            head += _activation(keras.activations.serialize(layer.activation))
        elif isinstance(layer, keras.layers.BatchNormalization):
            scale = 1 / np.sqrt(np.asarray(layer.moving_variance, np.float64) + layer.epsilon)
            if layer.scale:
                scale = scale * np.asarray(layer.gamma, np.float64)
            shift = -np.asarray(layer.moving_mean, np.float64) * scale
            if layer.center:
                shift = shift + np.asarray(layer.beta, np.float64)
            if not head or head[-1].operation != "affine":
                head.append(HeadLayer("affine", np.diag(scale), shift))
            else:
                last = head.pop()
                head.append(HeadLayer("affine", last.weight * scale, last.bias * scale + shift))
        elif isinstance(layer, keras.layers.Activation):
            head += _activation(keras.activations.serialize(layer.activation))
    return [
        HeadLayer(
            layer.operation,
            None if layer.weight is None else layer.weight.astype(np.float32),
            None if layer.bias is None else layer.bias.astype(np.float32),
        )
        for layer in head
    ]


def weights_fingerprint(arrays: Sequence[np.ndarray]) -> str:
    """A hash of weight arrays (identifies a feature part)."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _features_flatbuffer(backbone) -> bytes:
    """Export the Keras feature part to a LiteRT flatbuffer (~0.5-1 s on 2 cores)."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "features.tflite"
        with contextlib.redirect_stdout(io.StringIO()), quiet_native_stderr():
            backbone.export(str(target), format="litert", verbose=False)
        return target.read_bytes()


def export_inference(
    model,
    *,
    name: str,
    source_sha256: str,
    reuse: InferenceModel | None = None,
    probe: np.ndarray | None = None,
) -> InferenceModel:
    """Make the inference model of a Keras ``model`` (imports TensorFlow).

    ``reuse``: an inference model whose feature part may be the same (a parent version); its
    flatbuffer is reused when the feature weights' fingerprint matches, so that only the head is
    converted. ``probe``: float32 (N, 28, 28) inputs on which the result must agree with
    ``model`` within ``PARITY_TOLERANCE`` (default: 64 fixed pseudo-random images); raises
    ``ValueError`` otherwise.
    """
    import keras

    feature, head = split_layers(model)
    backbone = keras.Model(model.inputs, feature, name=f"{name}_features")
    fingerprint = weights_fingerprint(backbone.get_weights())
    if reuse is not None and reuse.features_fingerprint == fingerprint:
        flatbuffer = reuse.features_tflite
    else:
        flatbuffer = _features_flatbuffer(backbone)
    result = InferenceModel(
        flatbuffer,
        head_layers(head),
        name=name,
        source_sha256=source_sha256,
        features_fingerprint=fingerprint,
    )
    if probe is None:
        shape = tuple(model.input_shape[1:])
        probe = np.random.default_rng(0).random((64, *shape), dtype=np.float32)
    difference = parity(result, model, probe)
    if difference > PARITY_TOLERANCE:
        raise ValueError(
            f"the inference file of {name} differs from its Keras model by {difference:.2e} "
            f"(allowed {PARITY_TOLERANCE:.0e}); it was not written"
        )
    return result


def keras_probabilities(model, images: np.ndarray) -> np.ndarray:
    """A Keras model's probabilities (N, 11) float32, in inference mode."""
    images = check_inputs(images, tuple(model.input_shape[1:]))
    parts = [
        np.asarray(model(images[start : start + _BATCH], training=False))
        for start in range(0, len(images), _BATCH)
    ]
    return np.concatenate(parts).astype(np.float32)


def parity(inference: InferenceModel, model, images: np.ndarray) -> float:
    """Largest absolute difference between ``inference`` and the Keras ``model`` on ``images``."""
    ours = inference.predict_proba(images)
    theirs = keras_probabilities(model, images)
    return float(np.max(np.abs(ours - theirs))) if len(images) else 0.0


def export_checkpoint(
    checkpoint: str | os.PathLike, out: str | os.PathLike | None = None, *, name: str | None = None
) -> Path:
    """Write the inference file of a ``.keras`` checkpoint beside it (or at ``out``)."""
    from digitlib.models.keras_models import KerasClassifier

    checkpoint = Path(checkpoint)
    data = checkpoint.read_bytes()
    classifier = KerasClassifier.load(checkpoint, name)
    inference = export_inference(
        classifier.model, name=classifier.name, source_sha256=sha256_of(data)
    )
    target = Path(out) if out is not None else inference_path(checkpoint)
    inference.save(target)
    return target


def inference_beside(
    checkpoint: str | os.PathLike, name: str
) -> tuple[InferenceModel, bytes, list[str]]:
    """The inference file beside a ``.keras`` checkpoint, checked to run and to belong to it.

    When it is missing, stale (made from another checkpoint) or damaged, it is made from the
    checkpoint (imports TensorFlow) and written beside it when the folder allows. Returns (the
    model, the file's bytes, warnings saying what was remade). Raises ``CheckpointError`` when
    neither a good file nor the checkpoint is there.
    """
    checkpoint = Path(checkpoint)
    target = inference_path(checkpoint)
    source = sha256_of(checkpoint.read_bytes()) if checkpoint.is_file() else None
    problem = ""
    if not target.is_file():
        problem = f"no inference file {target.name}"
    else:
        data = target.read_bytes()
        try:
            model = load_inference(data, name, origin=str(target))
        except CheckpointError as error:
            problem = str(error)
        else:
            if source is None or model.source_sha256 == source:
                return model, data, []
            problem = f"{target.name} was made from another checkpoint than {checkpoint.name}"
    if source is None:
        raise CheckpointError(f"{problem}, and no checkpoint {checkpoint} to make it from")
    with tempfile.TemporaryDirectory() as folder:
        data = export_checkpoint(checkpoint, Path(folder) / target.name, name=name).read_bytes()
    try:
        target.write_bytes(data)
        where = f"written to {target}"
    except OSError:
        where = "kept in memory (the folder is read-only)"
    model = load_inference(data, name, origin=str(target))
    return model, data, [f"{name}: {problem}; remade from {checkpoint.name} and {where}"]


def head_of(model) -> list[HeadLayer]:
    """The current head of a Keras ``model`` (after fine-tuning its top)."""
    return head_layers(split_layers(model)[1])
