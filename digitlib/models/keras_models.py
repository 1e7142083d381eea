"""Keras models: ``build_fnn`` and ``build_cnn`` factories and the ``KerasClassifier`` wrapper.

Both factories take model inputs of shape (N, 28, 28) float32 in [0, 1] and end in an 11-way
softmax. ``KerasClassifier.predict_proba`` runs a cached ``tf.function`` with a fixed input
signature instead of ``model.predict`` (which costs ~34 ms a call on 2 cores; the function ~0.5 ms).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from digitlib.config import NUM_CLASSES
from digitlib.models.base import (
    CheckpointError,
    check_inputs,
    check_labels,
    check_training_arguments,
)


def build_fnn(
    num_classes: int = NUM_CLASSES, *, hidden: tuple[int, ...] = (512, 256), dropout: float = 0.2
):
    """A fully connected network 784-512-256-``num_classes`` (ReLU, dropout), uncompiled.

    Input (N, 28, 28) float32; output (N, num_classes) softmax probabilities. The layer named
    ``"features"`` ends the feature part (``digitlib.models.inference``): the last hidden
    layer and the softmax above it are the head.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=(28, 28), name="image")
    x = layers.Flatten(name="features" if len(hidden) == 1 else None)(inputs)
    for index, units in enumerate(hidden):
        x = layers.Dense(units, activation="relu")(x)
        # The feature part ends below the last hidden layer: online learning fine-tunes the
        # head above it, and inference files run it in NumPy.
        x = layers.Dropout(dropout, name="features" if index == len(hidden) - 2 else None)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="fnn")


def build_cnn(
    num_classes: int = NUM_CLASSES,
    *,
    filters: tuple[int, int] = (32, 64),
    dense_units: int = 128,
    dropout: float = 0.3,
):
    """A convolutional network, uncompiled: a 3x3 convolution with batch norm and max pooling,
    two more 3x3 convolutions with batch norm and max pooling, then a dense layer with dropout
    and a ``num_classes`` softmax.

    Sized for 2 CPU cores (~5 M multiply-adds per image, ~190 k parameters). Input (N, 28, 28)
    float32; output (N, num_classes) probabilities. The flattened convolution features (the
    layer ``"features"``) end the feature part; the dense block and softmax are the head.
    """
    import keras
    from keras import layers

    def convolution(x, count):
        x = layers.Conv2D(count, 3, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.Activation("relu")(x)

    inputs = keras.Input(shape=(28, 28), name="image")
    x = layers.Reshape((28, 28, 1))(inputs)
    x = convolution(x, filters[0])  # 26x26
    x = layers.MaxPooling2D()(x)  # 13x13
    x = convolution(x, filters[1])  # 11x11
    x = convolution(x, filters[1])  # 9x9
    x = layers.MaxPooling2D()(x)  # 4x4
    x = layers.Dropout(0.25)(x)
    x = layers.Flatten(name="features")(x)  # the feature part; the dense head is fine-tuned
    x = layers.Dense(dense_units, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cnn")


#: One stroke model input: ``digitlib.drawings.strokes.POINTS`` points of ``CHANNELS`` values.
STROKE_SHAPE = (64, 6)
#: The input shapes a ``KerasClassifier`` takes.
INPUT_SHAPES = ((28, 28), STROKE_SHAPE)


def build_stroke_model(
    num_classes: int = NUM_CLASSES,
    *,
    filters: tuple[int, int, int, int] = (96, 128, 192, 192),
    dense_units: int = 128,
    dropout: float = 0.3,
    dilated: bool = False,
):
    """The stroke model, uncompiled: four 1D convolutions over the resampled pen path (the
    second and third with stride 2), the maximum and the mean of the last over the path, a
    dense layer with dropout and a ``num_classes`` softmax.

    Input (N, 64, 6) float32 (``digitlib.drawings.strokes.encode``); output (N, num_classes)
    probabilities. ``dilated``: the four convolutions keep all 64 points and look 1, 2, 4 and 8
    points apart instead of striding. The pooled convolution features (the layer ``"features"``) end the feature
    part; the dense block and softmax are the head (fine-tuned by online learning, run by NumPy
    in the inference file). Convolutions only: LiteRT runs it in ~0.05 ms a segment, where a
    bidirectional GRU over the same path took 0.26-0.8 ms.
    """
    import keras
    from keras import layers

    def convolution(x, count, width, stride=1):
        x = layers.Conv1D(count, width, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.Activation("relu")(x)

    def dilated_convolution(x, count, width, rate):
        x = layers.Conv1D(count, width, dilation_rate=rate, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.Activation("relu")(x)

    inputs = keras.Input(shape=STROKE_SHAPE, name="strokes")
    if dilated:  # every point kept, the view widened instead: 1, 2, 4, 8 points apart
        x = dilated_convolution(inputs, filters[0], 5, 1)
        x = dilated_convolution(x, filters[1], 5, 2)
        x = dilated_convolution(x, filters[2], 5, 4)
        x = dilated_convolution(x, filters[3], 3, 8)
    else:
        x = convolution(inputs, filters[0], 5)  # 64 points
        x = convolution(x, filters[1], 5, 2)  # 32
        x = convolution(x, filters[2], 3, 2)  # 16
        x = convolution(x, filters[3], 3)
    pooled = layers.Concatenate()(
        [layers.GlobalMaxPooling1D()(x), layers.GlobalAveragePooling1D()(x)]
    )
    x = layers.Dropout(0.2, name="features")(pooled)
    x = layers.Dense(dense_units, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="strokes")


def predict_together(classifiers: Mapping[str, KerasClassifier]):
    """One compiled function that runs several Keras classifiers on the same batch: one call into
    TensorFlow instead of one per model (each call costs 0.5-1 ms of dispatch on 2 cores, about
    as much as a small model's arithmetic).

    Returns a function: images float32 (N, 28, 28) in [0, 1] (checked by the caller) -> name ->
    probabilities (N, 11) float32. It reads the models' current weights on every call, so it
    follows in-place fine-tuning; tracing happens on the first call (~0.25 s for two models).
    """
    import tensorflow as tf

    models = {name: classifier.model for name, classifier in classifiers.items()}

    @tf.function(input_signature=[tf.TensorSpec((None, 28, 28), tf.float32)])
    def predict(images):
        return {name: model(images, training=False) for name, model in models.items()}

    def run(images: np.ndarray) -> dict[str, np.ndarray]:
        if len(images) == 0:
            return {name: np.zeros((0, NUM_CLASSES), np.float32) for name in models}
        parts = [predict(images[start : start + 2048]) for start in range(0, len(images), 2048)]
        return {
            name: np.concatenate([part[name].numpy() for part in parts]).astype(
                np.float32, copy=False
            )
            for name in models
        }

    return run


class KerasClassifier:
    """A ``Classifier`` around a Keras model mapping (N, 28, 28) float32 images (or the stroke
    model's (N, 64, 6) sequences) to (N, 11) probabilities."""

    def __init__(self, model, name: str | None = None) -> None:
        input_shape = tuple(model.input_shape)
        output_shape = tuple(model.output_shape)
        if input_shape[1:] not in INPUT_SHAPES or output_shape[1:] != (NUM_CLASSES,):
            raise ValueError(
                f"a digit model maps (N, 28, 28) images or (N, {STROKE_SHAPE[0]}, "
                f"{STROKE_SHAPE[1]}) strokes to (N, {NUM_CLASSES}); this one maps "
                f"{input_shape} to {output_shape}"
            )
        self.model = model
        #: The shape of one input: (28, 28) for the image models, ``STROKE_SHAPE`` for strokes.
        self.input_shape = tuple(input_shape[1:])
        self.name = name or model.name
        self._predict_function = None
        #: What ``fine_tune`` runs (``digitlib.models.keras_tuning``): made on first use, or
        #: attached by whoever fine-tunes this model often. A ``copy`` has none.
        self.trainer = None

    def _predict(self):
        if self._predict_function is None:
            import tensorflow as tf

            model = self.model

            @tf.function(input_signature=[tf.TensorSpec((None, *self.input_shape), tf.float32)])
            def predict(images):
                return model(images, training=False)

            self._predict_function = predict
        return self._predict_function

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, 11) float32 for ``images`` (N, 28, 28) float32 in [0, 1] (or the
        stroke model's (N, 64, 6) sequences)."""
        images = check_inputs(images, self.input_shape)
        if len(images) == 0:
            return np.zeros((0, NUM_CLASSES), np.float32)
        predict = self._predict()
        outputs = [
            predict(images[start : start + 2048]).numpy() for start in range(0, len(images), 2048)
        ]
        return np.concatenate(outputs).astype(np.float32, copy=False)

    def fine_tune(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        learning_rate: float,
        epochs: int,
        batch_size: int,
        rng: np.random.Generator | int | None,
    ) -> None:
        """Train further in place with the attached ``trainer``: by default every layer with
        Adam at ``learning_rate`` (keep it small, e.g. 1e-4), batch norm and dropout in
        inference mode (``keras_tuning.KerasTrainer``); online learning attaches a
        ``KerasHeadTrainer`` with SGD to train the head alone."""
        check_training_arguments(learning_rate, epochs, batch_size)
        images = check_inputs(images, self.input_shape)
        labels = check_labels(labels, len(images))
        if self.trainer is None:
            from digitlib.models.keras_tuning import KerasTrainer

            self.trainer = KerasTrainer(self, "adam", None)
        self.trainer.fit(
            images,
            labels,
            learning_rate=float(learning_rate),
            epochs=int(epochs),
            batch_size=int(batch_size),
            rng=np.random.default_rng(rng),
        )

    def copy(self) -> KerasClassifier:
        import keras

        # From the config rather than clone_model, which also copies the compiled optimizer.
        clone = keras.Model.from_config(self.model.get_config())
        clone.set_weights(self.model.get_weights())
        return KerasClassifier(clone, self.name)

    def save(self, path: Path) -> None:
        """Write the model (weights and architecture, no optimizer state) to a ``.keras`` file."""
        path = Path(path)
        if path.suffix != ".keras":
            raise ValueError(f"Keras models are saved as .keras files, got {path.name!r}")
        self.copy().model.save(path)  # an uncompiled clone: no optimizer state in the file

    @classmethod
    def load(cls, path: Path, name: str | None = None) -> KerasClassifier:
        """Load a ``.keras`` file safely (``safe_mode=True``: a ``Lambda`` layer is refused)."""
        import keras

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such checkpoint file")
        try:
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
        except Exception as error:
            text = str(error)
            if "lambda" in text.lower() or "safe_mode" in text:
                raise CheckpointError(
                    f"{path}: refusing to load: the model holds Python code (a Lambda layer), "
                    "which safe mode does not run. Rebuild it from digitlib.models factories."
                ) from error
            raise CheckpointError(f"{path}: not a loadable .keras checkpoint ({text})") from error
        try:
            return cls(model, name or path.stem)
        except ValueError as error:
            raise CheckpointError(f"{path}: {error}") from error
