"""Pseudo-label quality against hand-computed values: the positive pseudo-labels' precision,
recall and F1 (masks and weights respected) and the mAP of the weak-view scores."""

import math

import pytest
import torch

from stssl.evaluate import PseudoLabelQuality

# Two images, three classes. Targets passing the mask (weight 1) and positive: (0,0) right,
# (1,1) right, (1,2) wrong; (0,2) is right but masked. True positives: (0,0), (0,2), (1,0), (1,1).
TARGETS = torch.tensor([[1.0, 0, 1], [0, 1, 1]])
MASK = torch.tensor([[1.0, 1, 0], [1, 1, 1]])
TRUE = torch.tensor([[1.0, 0, 1], [1, 1, 0]])
# Per class, the positives' ranks: class 0 both positive (AP 1), class 1 positive first (AP 1),
# class 2 positive last of two (AP 1/2).
WEAK = torch.tensor([[2.0, -1, -3], [1, 0, 3]])


def test_multilabel_positive_precision_recall_f1_and_map_by_hand():
    q = PseudoLabelQuality()
    q.update(TARGETS, MASK, TRUE, multilabel=True, weak_logits=WEAK)
    s = q.summary()
    assert s["pl_pos_precision"] == pytest.approx(2 / 3)  # 2 right of 3 positives used
    assert s["pl_pos_recall"] == pytest.approx(2 / 4)  # of 4 true positives, the masked one is missed
    assert s["pl_pos_f1"] == pytest.approx(4 / 7)  # 2 * (2/3) * (1/2) / (2/3 + 1/2)
    assert s["pl_precision"] == pytest.approx(3 / 5)  # every entry passing the mask, negatives included
    assert s["pl_quantity"] == pytest.approx(5 / 6)
    assert s["pl_mAP"] == pytest.approx((1 + 1 + 1 / 2) / 3)


def test_multilabel_accumulates_over_batches_until_reset():
    q = PseudoLabelQuality()
    q.update(TARGETS, MASK, TRUE, multilabel=True, weak_logits=WEAK)
    # A third image, all negative pseudo-labels, one true positive (class 2) scored highest.
    q.update(torch.zeros(1, 3), torch.ones(1, 3), torch.tensor([[0.0, 0, 1]]), True, torch.tensor([[0.0, -2, 4]]))
    s = q.summary()
    assert s["pl_pos_precision"] == pytest.approx(2 / 3)
    assert s["pl_pos_recall"] == pytest.approx(2 / 5)
    assert s["pl_pos_f1"] == pytest.approx(2 * 2 / (3 + 5))
    # class 2 over three images: positive, negative, positive -> AP (1 + 2/3) / 2
    assert s["pl_mAP"] == pytest.approx((1 + 1 + 5 / 6) / 3)
    q.reset()
    assert math.isnan(q.summary()["pl_pos_recall"]) and "pl_mAP" not in q.summary()


def test_multilabel_weights_count_as_in_the_loss():
    q = PseudoLabelQuality()
    q.update(TARGETS, torch.tensor([[1.0, 1, 0], [1, 1, 0.5]]), TRUE, multilabel=True)
    s = q.summary()
    assert s["pl_pos_precision"] == pytest.approx(2 / 2.5)  # the wrong positive weighs 0.5
    assert s["pl_pos_recall"] == pytest.approx(2 / 4)
    assert s["pl_pos_f1"] == pytest.approx(2 * 2 / (2.5 + 4))
    assert "pl_mAP" not in s  # no scores given


def test_no_right_positive_gives_f1_zero_not_undefined():
    q = PseudoLabelQuality()
    q.update(torch.tensor([[1.0, 0]]), torch.ones(1, 2), torch.tensor([[0.0, 1]]), multilabel=True)
    s = q.summary()
    assert (s["pl_pos_precision"], s["pl_pos_recall"], s["pl_pos_f1"]) == (0, 0, 0)


def test_single_label_positive_is_the_selected_class():
    # Four images; samples 0, 1, 3 pass the mask, 0 and 3 right; sample 2 is right but masked.
    q = PseudoLabelQuality()
    weak = torch.tensor([[3.0, 0, 0], [0, 1, 2], [0, 0, 1], [1, 2, 1.5]])
    q.update(torch.tensor([0, 1, 2, 1]), torch.tensor([1.0, 1, 0, 1]), torch.tensor([0, 2, 2, 1]), False, weak)
    s = q.summary()
    assert s["pl_pos_precision"] == pytest.approx(2 / 3) == s["pl_precision"]
    assert s["pl_pos_recall"] == pytest.approx(2 / 4)  # one true class per image
    assert s["pl_pos_f1"] == pytest.approx(4 / 7)
    assert s["pl_quantity"] == pytest.approx(3 / 4)
    # one-vs-rest: classes 0 and 1 rank their positive first; class 2 ranks its two positives
    # (scores 2 and 1) around a negative (1.5): AP (1 + 2/3) / 2
    assert s["pl_mAP"] == pytest.approx((1 + 1 + 5 / 6) / 3)


def test_scores_keep_only_the_latest_batches():
    q = PseudoLabelQuality()
    q.SCORED_ROWS = 2
    # an old batch that ranks class 0's positive last, then two that rank it first
    q.update(torch.zeros(2, 1), torch.ones(2, 1), torch.tensor([[1.0], [0]]), True, torch.tensor([[-1.0], [1]]))
    for _ in range(2):
        q.update(torch.zeros(1, 1), torch.ones(1, 1), torch.tensor([[1.0]]), True, torch.tensor([[5.0]]))
        q.update(torch.zeros(1, 1), torch.ones(1, 1), torch.tensor([[0.0]]), True, torch.tensor([[-5.0]]))
    assert q.scored_rows == 2
    assert q.summary()["pl_mAP"] == pytest.approx(1.0)
    assert q.summary()["pl_pos_recall"] == 0  # the counts still cover every batch
