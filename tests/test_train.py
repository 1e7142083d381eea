"""Training-set assembly and the training loops on tiny data."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from digitlib.config import OTHER
from digitlib.drawings.synthetic import synthetic_drawings
from digitlib.training import train


def test_extras_key_changes_with_the_extras_only():
    config = train.TrainConfig()
    assert train.TrainConfig(shape_count=1).extras_key() != config.extras_key()
    assert train.TrainConfig(shape_count=1).data_key() == config.data_key()


def test_render_many_with_stroke_augmentation_is_seeded():
    drawings = synthetic_drawings(3, 0)
    options = dict(workers=1, augment=True, width_fraction=(0.025, 0.08))
    first = train.render_many(drawings, 2, seed=5, **options)
    np.testing.assert_array_equal(first, train.render_many(drawings, 2, seed=5, **options))
    assert not np.array_equal(first, train.render_many(drawings, 2, seed=5, workers=1))


def test_extras_can_be_turned_off():
    config = train.TrainConfig(
        extra_digit_renderings=0,
        extra_doodle_renderings=0,
        shape_count=0,
        slashed_zero_renderings=0,
    )
    images, labels, sources = train.assemble_extras(config, cache_dir=None, limit=3)
    assert images.shape == (0, 28, 28) and len(labels) == len(sources) == 0


def test_render_many_does_not_depend_on_the_number_of_workers():
    # Each chunk has its own seed, so the chunks may be rendered in any process.
    drawings = synthetic_drawings(6, 0)
    alone = train.render_many(drawings, 2, seed=5, workers=1, chunk=2)
    assert alone.shape == (12, 28, 28) and alone.dtype == np.float32
    assert alone.max() <= 1 and alone.reshape(12, -1).max(axis=1).min() > 0
    np.testing.assert_array_equal(
        alone, train.render_many(drawings, 2, seed=5, workers=2, chunk=2)
    )
    # ... but the chunking itself is part of the seed.
    assert not np.array_equal(alone, train.render_many(drawings, 2, seed=5, workers=1, chunk=3))


def test_render_many_in_styles_is_seeded_and_differs_from_the_pen():
    drawings = synthetic_drawings(3, 1)
    styled = train.render_many(drawings, 2, seed=5, styles=("finger", "thick"))
    np.testing.assert_array_equal(
        styled, train.render_many(drawings, 2, seed=5, styles=("finger", "thick"))
    )
    assert not np.array_equal(styled, train.render_many(drawings, 2, seed=5))


@pytest.fixture(scope="module")
def tiny_set():
    config = train.TrainConfig(
        digit_renderings=1,
        doodle_renderings=1,
        workers=1,
        validation_share=0.1,
        extra_digit_renderings=1,
        extra_doodle_renderings=1,
        shape_count=1,
        slashed_zero_renderings=1,
    )
    return train.assemble_training_set(config, cache_dir=None, limit=40)


PEOPLE_SOURCES = {
    "pendigits_styled",
    "pendigits_variants",
    "mnist_canvas",
    "people_negatives",
    "quickdraw_styled",
}


def test_assemble_training_set_has_all_sources_and_classes(tiny_set):
    assert set(tiny_set.summary()) == {
        "mnist",
        "pendigits_canvas",
        "quickdraw_canvas",
        "quickdraw_bitmaps",
        "synthetic",
        "pendigits_canvas_augmented",
        "quickdraw_canvas_augmented",
        "shapes",
        "pendigits_slashed_zero",
        *PEOPLE_SOURCES,
    }
    assert np.all(tiny_set.labels[tiny_set.sources == "pendigits_slashed_zero"] == 0)
    assert tiny_set.images.shape[1:] == (28, 28) and tiny_set.images.dtype == np.float32
    assert len(tiny_set.images) == len(tiny_set.labels) == len(tiny_set.sources)
    others = np.isin(
        tiny_set.sources,
        [
            "quickdraw_canvas",
            "quickdraw_bitmaps",
            "synthetic",
            "quickdraw_canvas_augmented",
            "shapes",
            "people_negatives",
            "quickdraw_styled",
        ],
    )
    assert np.all(tiny_set.labels[others] == OTHER) and np.all(tiny_set.labels[~others] < 10)
    assert len(tiny_set.validation_images) > 0


def test_assembly_never_uses_held_out_writers_or_categories(monkeypatch):
    from digitlib.config import HELD_OUT
    from digitlib.drawings import data

    held_categories = set(HELD_OUT.quickdraw_categories(data.quickdraw_categories()))
    seen = {}
    real_render = train.render_many

    def spy(drawings, renderings, seed, workers=1, chunk=500, **options):
        seen.setdefault("calls", []).append(len(drawings))
        return real_render(drawings, renderings, seed, 1, chunk, **options)

    real_doodles = data.load_quickdraw_strokes

    def doodles(categories=None, search_path=None):
        seen["categories"] = set(categories)
        return real_doodles(list(categories)[:2], search_path)

    monkeypatch.setattr(train, "render_many", spy)
    monkeypatch.setattr(data, "load_quickdraw_strokes", doodles)
    config = train.TrainConfig(digit_renderings=1, doodle_renderings=1, workers=1)
    train.assemble_training_set(config, cache_dir=None, limit=5)
    assert not seen["categories"] & held_categories
    pendigits = [d for d in data.load_pendigits() if d.writer not in HELD_OUT.pendigits_writers]
    assert all(d.writer not in HELD_OUT.pendigits_writers for d in pendigits[:5])


def test_train_numpy_fnn_runs_and_reports_progress(tiny_set):
    config = train.TrainConfig(numpy_fnn=train.NumpyFNNSettings(epochs=2, layers=(784, 16, 11)))
    history = []
    model = train.train_numpy_fnn(
        tiny_set, config=config, rng=0, progress=lambda epoch, logs: history.append(logs)
    )
    assert [set(h) >= {"loss", "val_accuracy", "seconds"} for h in history] == [True, True]
    assert model.predict_proba(tiny_set.images[:3]).shape == (3, 11)


def test_train_model_writes_the_same_keras_model_for_the_same_seed(tiny_set):
    # Keras is seeded before the model is built: the initial weights, dropout and shuffles all
    # follow from the seed. (Seeded after the build, each run started from other weights.)
    config = train.TrainConfig(seed=3).with_epochs(1)
    first, second = (train.train_model("fnn", tiny_set, config) for _ in range(2))
    other = train.train_model("fnn", tiny_set, train.TrainConfig(seed=4).with_epochs(1))
    weights = [model.model.get_weights() for model in (first, second, other)]
    assert all(np.array_equal(a, b) for a, b in zip(weights[0], weights[1], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(weights[0], weights[2], strict=True))


def test_train_model_rejects_unknown_names(tiny_set):
    with pytest.raises(ValueError, match="unknown model"):
        train.train_model("rnn", tiny_set)


def test_class_weights():
    weights = train.class_weights(train.TrainConfig(other_weight=0.5))
    assert weights.shape == (11,) and weights[OTHER] == 0.5 and weights[:10].tolist() == [1] * 10


def test_add_examples_repeats_collected_drawings(tiny_set):
    images = np.zeros((2, 28, 28), np.float32)
    bigger = train.add_examples(tiny_set, images, np.array([3, 10]), copies=4)
    assert len(bigger.images) == len(tiny_set.images) + 8
    assert bigger.labels[-8:].tolist() == [3] * 4 + [10] * 4
    assert (bigger.sources[-8:] == "drawings").all()
    with pytest.raises(ValueError, match="labels must be"):
        train.add_examples(tiny_set, images, np.array([3, 11]))


def test_sample_weights_weigh_mnist_and_other():
    config = train.TrainConfig(other_weight=0.5)
    training_set = train.TrainingSet(
        np.zeros((3, 28, 28), np.float32),
        np.array([3, OTHER, 3]),
        np.array(["mnist", "quickdraw_canvas", "pendigits_canvas"]),
        np.zeros((0, 28, 28), np.float32),
        np.zeros(0, np.int64),
    )
    weights = train.sample_weights(training_set, config, mnist_weight=2.0)
    assert weights.dtype == np.float32
    np.testing.assert_allclose(weights, [2.0, 0.5, 1.0])
    np.testing.assert_allclose(train.sample_weights(training_set, config), [1.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="mnist_weight"):
        train.sample_weights(training_set, config, mnist_weight=0)


def test_cache_keys_change_with_the_code_that_makes_the_data(monkeypatch, tmp_path):
    source = tmp_path / "preprocess.py"
    source.write_text("INK_FLOOR = 0.08\n")
    monkeypatch.setattr(train, "RECIPE_FILES", (source,))
    config = train.TrainConfig()
    before = (config.data_key(), config.extras_key(), config.people_key())
    assert (config.data_key(), config.extras_key(), config.people_key()) == before
    source.write_text("INK_FLOOR = 0.1\n")  # the rendering changed, the config did not
    after = (config.data_key(), config.extras_key(), config.people_key())
    assert all(old != new for old, new in zip(before, after, strict=True))


def test_people_key_changes_with_the_people_fields_only():
    config = train.TrainConfig()
    assert train.TrainConfig(sign_count=1).people_key() != config.people_key()
    assert train.TrainConfig(sign_count=1).extras_key() == config.extras_key()
    assert train.TrainConfig(shape_count=1).people_key() == config.people_key()


def test_per_model_settings():
    config = train.TrainConfig().with_epochs(3)
    assert [config.settings(n).epochs for n in ("cnn", "fnn", "numpy_fnn")] == [3, 3, 3]
    assert config.cnn.mnist_weight == 1.5 and config.fnn.mnist_weight == 1.0
    with pytest.raises(ValueError, match="unknown model 'rnn'"):
        config.settings("rnn")


def test_assemble_people_labels_and_never_uses_held_out_glyphs(monkeypatch):
    from digitlib.config import HELD_OUT
    from digitlib.drawings import synthetic

    held_out = set(HELD_OUT.glyphs(synthetic.glyph_characters()))
    asked = []
    real = synthetic.glyph_drawings

    def spy(characters, copies, rng):
        asked.extend(characters)
        return real(characters, copies, rng)

    monkeypatch.setattr(synthetic, "glyph_drawings", spy)
    images, labels, sources = train.assemble_people(
        train.TrainConfig(workers=1), cache_dir=None, limit=4
    )
    assert asked and not set(asked) & held_out
    assert set(sources) == PEOPLE_SOURCES
    negatives = np.isin(sources, ["people_negatives", "quickdraw_styled"])
    assert (labels[negatives] == OTHER).all() and (labels[~negatives] < 10).all()
    assert set(labels[sources == "pendigits_variants"]) <= {1, 4, 7, 9}
    assert images.shape == (len(labels), 28, 28) and images.dtype == np.float32


def test_training_digits_and_categories_leave_out_the_held_out_ones():
    from digitlib.config import HELD_OUT
    from digitlib.drawings import data

    writers = {d.writer for d in train.training_digits()}
    assert writers and not writers & set(HELD_OUT.pendigits_writers)
    categories = set(train.training_categories())
    held_out = set(HELD_OUT.quickdraw_categories(data.quickdraw_categories()))
    assert categories and not categories & held_out
    assert categories | held_out == set(data.quickdraw_categories())


def test_epoch_data_augments_no_epoch_past_the_last():
    """A background augmentation still running when a training process ended made it abort
    after saving its models (exit status 134); the generator's draws stay as they were."""
    images = np.random.default_rng(0).random((6, 28, 28)).astype(np.float32)
    limited = train._EpochData(images, np.random.default_rng(1), epochs=2)
    unlimited = train._EpochData(images, np.random.default_rng(1))
    for _ in range(2):
        assert np.array_equal(limited.next(), unlimited.next())
    assert limited._thread is None  # nothing left running when training ends
    assert not any(
        thread.name == "augment-next-epoch" and thread.daemon for thread in threading.enumerate()
    )
    assert limited.rng.integers(2**63) == unlimited.rng.integers(2**63)
    with pytest.raises(RuntimeError, match="all the epochs"):
        limited.next()
    unlimited._thread.join()


def test_a_cached_training_part_reads_back_as_it_was_made(tmp_path):
    images = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    parts = [(images[:2], np.array([1, 2]), "drawn"), (images[2:], np.array([OTHER]), "other")]
    joined = train._joined_part(parts, tmp_path / "part.npz")
    path, cached = train._cached_part(tmp_path, None, "part.npz")
    assert path == tmp_path / "part.npz"
    np.testing.assert_allclose(cached[0], joined[0], atol=0.5 / 255 + 1e-6)
    assert cached[1].tolist() == joined[1].tolist() == [1, 2, OTHER]
    assert cached[2].tolist() == ["drawn", "drawn", "other"]
    empty = train._joined_part([], tmp_path / "empty.npz")
    assert empty[0].shape == (0, 28, 28) and not (tmp_path / "empty.npz").exists()
