"""Pictures and numbers for the exploratory notebooks (``notebooks/01_data.ipynb`` ...).

The notebooks only wire: every picture and every number they show is computed here, in one room
per notebook:

- ``data``: what the models learn from and what people draw (``01_data.ipynb``);
- ``pipeline``: one drawn number followed from canvas to model inputs (``02_pipeline.ipynb``);
- ``models``: how well each model reads and where it fails (``03_models.ipynb``);
- ``learning``: what corrections teach and what the validation gate keeps out
  (``04_learning.ipynb``);

and the parts they share: ``samples`` (how many samples to draw, ``sizes()``), ``figures`` (how a
figure is built, a grid of images) and ``tables`` (``Table``). Every name a notebook uses is
imported here, so a notebook calls ``explore.X`` whichever room ``X`` lives in.

Functions either compute arrays (pure: inputs are never changed, randomness comes from ``rng``)
or draw them, returning a ``matplotlib.figure.Figure`` built without pyplot, so nothing global is
touched and a notebook shows the figure by leaving it as a cell's last expression.

matplotlib and OpenCV are imported inside the functions, so ``import digitlib`` stays light.

``DIGITLIB_NOTEBOOK_SMALL=1`` in the environment shrinks every sample count (``sizes()``), so
the tests run all the notebooks headless in well under a few minutes.
"""

from __future__ import annotations

from digitlib.explore.data import (
    PixelStatistics,
    class_gallery,
    drawing_key,
    drawing_name,
    gallery_styles,
    model_inputs,
    naive_inputs,
    one_of_each,
    pick_per_class,
    pixel_statistics,
    plot_canvas_to_input,
    plot_pixel_statistics,
    render_canvases,
    statistics_table,
    style_caption,
    style_gallery,
)
from digitlib.explore.figures import (
    FIGURE_DPI,
    image_grid,
)
from digitlib.explore.learning import (
    BurstTrace,
    WriterDrawings,
    burst,
    copy_recognizer,
    digit_drawings,
    learn_config,
    measure_set,
    plot_before_after,
    plot_bursts,
    read_texts,
    scratch_store,
    split_corrections,
    teach,
    text_accuracy,
    updates_table,
    vandalism,
    worst_digit,
    worst_writer,
    writer_drawings,
    writers_table,
    wrong_labels,
)
from digitlib.explore.models import (
    LabeledSet,
    ThresholdCurve,
    confusion_matrices,
    confusion_matrix,
    decide_labels,
    heldout_canvas_set,
    load_training_history,
    mnist_test_set,
    operating_threshold,
    plot_confusion_matrices,
    plot_misreads,
    plot_threshold_curves,
    plot_training_curves,
    predict_all,
    threshold_curve,
    threshold_table,
    worst_misreads,
)
from digitlib.explore.pipeline import (
    PipelineSteps,
    follow_pipeline,
    plot_inputs_and_probabilities,
    plot_pipeline,
    plot_variants,
    result_inputs,
    segment_ink,
    segment_probabilities,
)
from digitlib.explore.samples import (
    SMALL_ENVIRONMENT_VARIABLE,
    SMALL_SIZES,
    Sizes,
    random_sample,
    sizes,
)
from digitlib.explore.tables import (
    Table,
)

__all__ = [
    "SMALL_ENVIRONMENT_VARIABLE",
    "Sizes",
    "SMALL_SIZES",
    "sizes",
    "random_sample",
    "FIGURE_DPI",
    "image_grid",
    "Table",
    "pick_per_class",
    "class_gallery",
    "gallery_styles",
    "style_caption",
    "drawing_name",
    "drawing_key",
    "one_of_each",
    "style_gallery",
    "render_canvases",
    "plot_canvas_to_input",
    "naive_inputs",
    "model_inputs",
    "PixelStatistics",
    "pixel_statistics",
    "plot_pixel_statistics",
    "statistics_table",
    "PipelineSteps",
    "follow_pipeline",
    "plot_pipeline",
    "plot_inputs_and_probabilities",
    "plot_variants",
    "segment_ink",
    "segment_probabilities",
    "result_inputs",
    "load_training_history",
    "plot_training_curves",
    "LabeledSet",
    "heldout_canvas_set",
    "mnist_test_set",
    "decide_labels",
    "operating_threshold",
    "confusion_matrix",
    "plot_confusion_matrices",
    "worst_misreads",
    "plot_misreads",
    "ThresholdCurve",
    "threshold_curve",
    "plot_threshold_curves",
    "threshold_table",
    "predict_all",
    "confusion_matrices",
    "scratch_store",
    "learn_config",
    "copy_recognizer",
    "WriterDrawings",
    "writer_drawings",
    "read_texts",
    "text_accuracy",
    "writers_table",
    "split_corrections",
    "worst_digit",
    "digit_drawings",
    "teach",
    "updates_table",
    "plot_before_after",
    "BurstTrace",
    "measure_set",
    "burst",
    "plot_bursts",
    "wrong_labels",
    "worst_writer",
    "vandalism",
]
