"""Scoring candidates for the gate (``digitlib.learn.scoring``) and its typed result, on small
arrays with table models (no training, no files)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from digitlib.learn import LabeledImages, LearnConfig
from digitlib.learn.scoring import Scored, score, screened_probabilities


class TableModel:
    """A model that reads image ``i`` (``image[0, 0] == i``) as row ``i`` of its table."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table
        self.calls: list[int] = []

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        self.calls.append(len(images))
        return self.table[images[:, 0, 0].astype(int)]


def one_hot(labels) -> np.ndarray:
    table = np.full((len(labels), 11), 0.01, np.float32)
    table[np.arange(len(labels)), labels] = 0.9
    return table


# 20 validation images (10 MNIST digits, 10 "other" drawings), then one segment labeled 7.
TRUTH = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] + [10] * 10)
IMAGES = np.zeros((21, 28, 28), np.float32)
IMAGES[:, 0, 0] = np.arange(21)
VALIDATION = LabeledImages(IMAGES[:20], TRUTH, np.array(["mnist"] * 10 + ["other"] * 10))
SEGMENT = IMAGES[20:]
LABELS = np.array([7])
WEIGHTS = {"fnn": 0.5, "cnn": 0.5}


def model(validation_labels, segment_label: int, segment_confidence: float) -> TableModel:
    segment = np.full((1, 11), (1 - segment_confidence) / 10, np.float32)
    segment[0, segment_label] = segment_confidence
    return TableModel(np.concatenate([one_hot(validation_labels), segment]))


EXACT = LearnConfig(exact_gate=True)


def scored(candidates, live, config: LearnConfig = EXACT) -> Scored:
    return score(
        candidates,
        live=live,
        before={name: m.predict_proba(VALIDATION.images) for name, m in live.items()},
        weights=WEIGHTS,
        validation=VALIDATION,
        inputs=SEGMENT,
        labels=LABELS,
        reference=lambda current: current,  # the live models start their lineage
        config=config,
        rng=np.random.default_rng(0),
    )


def wrong_on(rows) -> np.ndarray:
    labels = TRUTH.copy()
    labels[list(rows)] = (labels[list(rows)] + 1) % 11
    return labels


def test_a_better_candidate_is_accepted_with_its_probabilities():
    live = {"fnn": model(wrong_on([0, 1]), 7, 0.5), "cnn": model(TRUTH, 7, 0.5)}
    better = model(TRUTH, 7, 0.9)
    result = scored({"fnn": better}, live)
    assert dict(result.accepted) == {"fnn": better} and dict(result.reasons) == {}
    np.testing.assert_array_equal(result.probabilities["fnn"], better.table[:20])
    assert result.exact == {"fnn"}
    assert (result.figures.scored, result.figures.of, result.figures.exact) == (20, 20, True)
    assert result.validation["fnn"].after > result.validation["fnn"].before
    assert set(result.reference) == {"fnn", "ensemble"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.accepted = {}
    with pytest.raises(TypeError):  # and its mappings are read-only
        result.probabilities["fnn"] = None


def test_a_worse_candidate_keeps_its_live_model_but_is_scored():
    live = {"fnn": model(TRUTH, 7, 0.5), "cnn": model(TRUTH, 7, 0.5)}
    worse = model(wrong_on([0, 1, 2, 10]), 7, 0.9)
    result = scored({"fnn": worse}, live)
    assert dict(result.accepted) == {} and set(result.reasons) == {"fnn"}
    assert "fnn" in result.probabilities


def test_the_kept_probabilities_wait_for_a_refresh_unless_exact():
    table = np.zeros((20, 11), np.float32)
    result = Scored({}, {}, {"fnn": table, "cnn": table}, exact=frozenset({"cnn"}))
    assert result.live_probabilities("fnn", refresh=False) is table
    assert result.live_probabilities("fnn", refresh=True) is None
    assert result.live_probabilities("cnn", refresh=True) is table
    assert result.live_probabilities("numpy_fnn", refresh=False) is None


def test_the_screened_gate_scores_the_unsure_rows_and_the_control_only():
    live = {"fnn": model(TRUTH, 7, 0.5), "cnn": model(TRUTH, 7, 0.5)}
    live["fnn"].table[3] = 1 / 11  # unsure: scored
    candidate = model(TRUTH, 7, 0.9)
    config = LearnConfig(gate_control=2)
    result = scored({"fnn": candidate}, live, config)
    assert result.figures.scored == 3 and not result.figures.exact
    assert result.exact == frozenset()
    assert candidate.calls[0] == 3  # three validation rows, then the segment


def test_a_control_image_that_moves_means_scoring_every_row():
    before = one_hot(TRUTH)
    candidate = TableModel(one_hot(wrong_on(range(20))))
    full, exact = screened_probabilities(
        candidate, before, VALIDATION.images, np.array([4, 5]), np.array([5])
    )
    assert exact and candidate.calls == [2, 20]
    np.testing.assert_array_equal(full, candidate.table)
    still = TableModel(one_hot(TRUTH))
    full, exact = screened_probabilities(
        still, before, VALIDATION.images, np.array([4, 5]), np.array([5])
    )
    assert not exact and still.calls == [2]
