"""Fast in-place fine-tuning of Keras models (imports TensorFlow: only training and learning
use this).

``KerasClassifier.fine_tune`` runs the trainer attached to the classifier
(``KerasClassifier.trainer``), by default a ``KerasTrainer``. ``KerasHeadTrainer`` trains the
head a model declares (``digitlib.models.inference.split_layers``) on features, the way readers
compute them; ``KerasTrainer`` trains every layer. Both keep one traced training step and reset
their optimizer's state before each ``fit``, so that a model fine-tuned again and again (online
learning) pays for tracing once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def make_optimizer(kind: str, clip_norm: float | None):
    """A fresh Keras optimizer: "sgd" (momentum 0.9) or "adam"; its learning rate is set per use."""
    import keras

    if kind == "adam":
        return keras.optimizers.Adam(learning_rate=1e-4, global_clipnorm=clip_norm)
    if kind == "sgd":
        return keras.optimizers.SGD(learning_rate=1e-2, momentum=0.9, global_clipnorm=clip_norm)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {kind!r}")


def training_step(model, optimizer, input_shape: tuple):
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


class FineTuner:
    """What both Keras trainers share: a traced training ``step`` and an ``optimizer`` whose
    state is reset before each ``fit``."""

    step: Callable
    optimizer: object

    def training_inputs(self, images: np.ndarray) -> np.ndarray:
        """What ``step`` trains on, made from model inputs (float32 (N, 28, 28) images or
        (N, 64, 6) strokes)."""
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


class KerasTrainer(FineTuner):
    """Fine-tunes every layer of one ``KerasClassifier`` in place with a training step traced
    once.

    Tracing a training step costs seconds, more than the whole budget of an online update: the
    trainer keeps the traced step and the optimizer and resets the optimizer's state before each
    use. Batch norm and dropout run in inference mode (the keras-io transfer-learning recipe: a
    few dozen variants of one drawing must not overwrite the batch statistics of the training
    set); the optimizer is SGD with momentum or Adam.
    """

    def __init__(self, classifier, optimizer: str = "sgd", clip_norm: float | None = None) -> None:
        self.optimizer = make_optimizer(optimizer, clip_norm)
        self.step = training_step(classifier.model, self.optimizer, input_shape_of(classifier))


class KerasHeadTrainer(FineTuner):
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
        self.optimizer = make_optimizer(optimizer, clip_norm)
        width = int(backbone.output.shape[-1])

        shape = input_shape_of(classifier)

        @tf.function(input_signature=[tf.TensorSpec((None, *shape), tf.float32)])
        def features(images):
            return backbone(images, training=False)

        @tf.function(input_signature=[tf.TensorSpec((None, width), tf.float32)])
        def predict_top(feature_rows):
            return top(feature_rows, training=False)

        step = training_step(top, self.optimizer, (width,))
        self.features, self.predict_top, self.step = features, predict_top, step

    @classmethod
    def build(cls, classifier, optimizer: str, clip_norm: float | None) -> KerasHeadTrainer | None:
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


def input_shape_of(classifier) -> tuple[int, ...]:
    """The shape of one input of the Keras ``classifier``: (28, 28) for the image models,
    (64, 6) for the stroke model."""
    return tuple(int(size) for size in classifier.model.input_shape[1:])


def is_keras(model) -> bool:
    """Whether ``model`` is a Keras classifier that these trainers fine-tune."""
    from digitlib.models.keras_models import KerasClassifier

    return isinstance(model, KerasClassifier)
