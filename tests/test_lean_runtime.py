"""Reading runs lean: a process that loads the recognizer and reads drawings never imports
TensorFlow; learning does, and what it promotes reaches readers in other processes as a new
inference file (on a local folder and on a real S3 server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from digitlib.config import HELD_OUT, PROJECT_ROOT, SHIPPED_MODELS_DIR
from digitlib.drawings import data
from digitlib.learn import LearnConfig, OnlineLearner, ValidationSpec
from digitlib.models import InferenceModel, load_model
from digitlib.models import inference as lean
from digitlib.store import ModelRegistry

SMALL = ValidationSpec(mnist=1000, canvas=500, other=250)


def run_python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_a_reading_process_never_imports_tensorflow():
    result = run_python(
        """
        import json, sys
        import numpy as np
        import digitlib
        from digitlib.drawings import data

        recognizer = digitlib.load_recognizer()
        rng = np.random.default_rng(0)
        digits = [d for d in data.load_pendigits() if d.writer == 27][:50]
        texts, stroke_reads = [], 0
        for d in digits:
            canvas, path = data.render_strokes(d.strokes, data.random_style(rng), traced=True)
            result = recognizer.recognize(canvas, strokes=path)
            texts.append(result.text)
            stroke_reads += all("strokes" in s.probabilities for s in result.segments)
        right = sum(text == str(d.label) for text, d in zip(texts, digits))
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
        kinds = sorted({type(m).__name__ for m in recognizer.models.values()})
        stroke_kind = type(recognizer.stroke_model).__name__
        print(json.dumps({"right": right, "heavy": heavy, "kinds": kinds,
                          "stroke_kind": stroke_kind, "stroke_reads": stroke_reads}))
        """
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["heavy"] == [], f"reading imported {report['heavy']}"
    assert report["kinds"] == ["InferenceModel", "NumpyFNN"]
    assert report["stroke_kind"] == "InferenceModel"
    assert report["stroke_reads"] == 50  # every drawing's strokes were read by the stroke model
    assert report["right"] >= 45  # it really read them


def test_predict_reads_a_file_with_no_log_lines(tmp_path):
    import cv2

    digit = next(d for d in data.load_pendigits() if d.writer == 26 and d.label == 3)
    image = data.render_strokes(digit.strokes, data.random_style(1))
    path = tmp_path / "three.png"
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA))
    result = subprocess.run(
        [sys.executable, "-m", "digitlib.cli", "predict", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"
    assert result.stderr == ""


def test_predict_reads_with_the_stores_versions_and_says_which(tmp_path):
    import cv2

    from digitlib.store import LocalStore

    store = LocalStore(tmp_path / "store")
    for name in ("numpy_fnn", "fnn", "cnn"):
        ModelRegistry(store, SHIPPED_MODELS_DIR).seed(name)
    digit = next(d for d in data.load_pendigits() if d.writer == 26 and d.label == 5)
    path = tmp_path / "five.png"
    cv2.imwrite(str(path), data.render_strokes(digit.strokes, data.random_style(2))[..., 2::-1])
    command = [sys.executable, "-m", "digitlib.cli", "predict", str(path), "--verbose"]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DIGITLIB_STORE": str(store.root)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "5"
    assert "read by numpy_fnn 1, fnn 1, cnn 1" in result.stderr and store.url in result.stderr
    missing = subprocess.run(
        [*command, "--store", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1 and "no store at" in missing.stderr


def test_predict_refuses_a_bad_file_before_loading_models(tmp_path):
    path = tmp_path / "bad.png"
    path.write_bytes(b"not an image")
    result = subprocess.run(
        [sys.executable, "-m", "digitlib.cli", "predict", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "expected a PNG or JPEG" in result.stderr
    assert "tensorflow" not in result.stderr.lower()


def held_out_canvases(count: int, seed: int) -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(seed)
    digits = [d for d in data.load_pendigits() if d.writer in HELD_OUT.pendigits_writers]
    picks = rng.choice(len(digits), count, replace=False)
    return [
        (data.render_strokes(digits[i].strokes, data.random_style(rng)), digits[i].label)
        for i in picks
    ]


@pytest.mark.slow
def test_learning_reaches_readers_in_another_process_as_a_new_inference_file(request, store):
    import digitlib

    recognizer = digitlib.load_recognizer(SHIPPED_MODELS_DIR, store=store)
    assert isinstance(recognizer.models["cnn"], InferenceModel)
    learner = OnlineLearner(recognizer, store, LearnConfig(validation=SMALL))
    for image, digit in held_out_canvases(12, seed=11):
        update = learner.learn(image, str(digit), session_id="test")
        if update.promoted and any(update.versions[n] != "shipped" for n in ("cnn", "fnn")):
            break
    else:
        pytest.fail("no Keras model was promoted in 12 corrections")
    versions = recognizer.versions
    keras_promoted = [n for n in ("cnn", "fnn") if versions[n] != "shipped"]
    assert all(isinstance(recognizer.models[n], InferenceModel) for n in keras_promoted)

    # Parity of each newly promoted version's inference file with its checkpoint.
    registry = ModelRegistry(store, SHIPPED_MODELS_DIR)
    images, _ = data.load_mnist("test")
    inputs = images[:1000].astype(np.float32) / 255
    for name in keras_promoted:
        manifest = registry.manifest(name, versions[name])
        assert manifest.inference["source_sha256"] == manifest.sha256
        keras_model = registry.load(name, lambda p, n=name: load_model(p, n)).model.model
        reading = registry.load_inference(name).model
        ours, theirs = reading.predict_proba(inputs), lean.keras_probabilities(keras_model, inputs)
        assert np.array_equal(ours.argmax(1), theirs.argmax(1))
        assert np.max(np.abs(ours - theirs)) <= lean.PARITY_TOLERANCE

    # Another process, as another dashboard server would: reads the new versions, no TensorFlow.
    probe = np.random.default_rng(5).random((8, 28, 28), dtype=np.float32)
    environment = {}
    if store.url.startswith("s3://"):
        environment = request.getfixturevalue("seaweedfs").environment()
    result = run_python(
        f"""
        import json, sys
        import numpy as np
        import digitlib

        recognizer = digitlib.load_recognizer(store={store.url!r})
        probe = np.random.default_rng(5).random((8, 28, 28), dtype=np.float32)
        print(json.dumps({{
            "versions": {{k: str(v) for k, v in recognizer.versions.items()}},
            "cnn": recognizer.models["cnn"].predict_proba(probe).tolist(),
            "fnn": recognizer.models["fnn"].predict_proba(probe).tolist(),
            "tensorflow": "tensorflow" in sys.modules,
        }}))
        """,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["tensorflow"] is False
    assert report["versions"] == {k: str(v) for k, v in versions.items()}
    for name in ("cnn", "fnn"):
        np.testing.assert_allclose(
            report[name], recognizer.models[name].predict_proba(probe), atol=1e-6
        )


def test_an_mnist_png_white_on_black_reads_as_its_digit():
    """An MNIST image saved as a PNG (white ink on black) reads as the digit, not as ""."""
    import cv2

    import digitlib

    recognizer = digitlib.load_recognizer()
    images, labels = data.load_mnist("test")
    right = 0
    for image, label in zip(images[:20], labels[:20], strict=True):
        large = cv2.resize(image, (280, 280), interpolation=cv2.INTER_LINEAR)
        png = cv2.imencode(".png", large)[1].tobytes()
        right += recognizer.recognize(png).text == str(label)
    assert right >= 18
