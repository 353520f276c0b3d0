"""The EMA and the evaluation as Lightning callbacks: a logger and callbacks of one's own attach."""

import lightning as L
import pandas as pd
import pytest
import torch
from conftest import SimulatedCrash
from torch import nn

from stssl.config import resolve, run_data
from stssl.training import train
from stssl.training.callbacks import ema_update
from stssl.training.fit import make_logger

CFG = resolve("smoke", algo="fixmatch", st=True, steps=20, eval_every=5)


@pytest.fixture(scope="module")
def smoke_data():
    return run_data(CFG)


def test_ema_is_torch_s_rule_and_a_copy_at_decay_zero():
    torch.manual_seed(0)
    live, ema = nn.Linear(4, 3), nn.Linear(4, 3)
    before = [p.detach().clone() for p in ema.parameters()]
    ema_update(ema, live, 0.9)
    for p, e0, e in zip(live.parameters(), before, ema.parameters()):
        assert torch.equal(e, torch.lerp(e0, p.detach(), 0.1))  # bit for bit what the run did before
        torch.testing.assert_close(e, 0.9 * e0 + 0.1 * p.detach())
    ema_update(ema, live, 0.0)
    assert all(torch.equal(e, p) for e, p in zip(ema.parameters(), live.parameters()))


def test_every_evaluation_reaches_the_csv_log_and_a_resume_logs_beside_it(smoke_data, tmp_path, crash_after_evaluation):
    crash_after_evaluation(10)
    with pytest.raises(SimulatedCrash):
        train(CFG, tmp_path, progress=False, data=smoke_data)
    crash_after_evaluation.disarm()
    module = train(CFG, tmp_path, progress=False, data=smoke_data)
    first, second = (pd.read_csv(tmp_path / "logs" / f"version_{v}" / "metrics.csv") for v in (0, 1))
    logged = pd.concat([first, second]).dropna(subset=["val_mAP"])
    assert list(logged["step"]) == [5, 10, 15, 20] == [row["step"] for row in module.history]
    assert list(logged["val_mAP"]) == pytest.approx([row["val_mAP"] for row in module.history])
    # the interrupted part's log is kept: its evaluations and losses, then the resumed part's
    assert list(first.dropna(subset=["val_mAP"])["step"]) == [5, 10] and first["step"].max() == 10
    assert list(second.dropna(subset=["val_mAP"])["step"]) == [15, 20]
    assert first["loss"].notna().any()  # the training loss too


def test_a_callback_of_one_s_own_sees_every_step_after_the_ema_and_the_evaluation(smoke_data):
    seen = []

    class Spy(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            seen.append((trainer.global_step, len(module.history)))

    train(CFG, progress=False, data=smoke_data, callbacks=[Spy()])
    assert [s for s, _ in seen] == list(range(1, 21))
    assert dict(seen)[5] == 1 and dict(seen)[20] == 4  # the evaluation at that step already ran


def test_logger_names(tmp_path):
    assert make_logger(None, None) is False
    assert type(make_logger(None, tmp_path)).__name__ == "CSVLogger"
    with pytest.raises(ValueError, match="unknown logger 'excel'; valid: csv, tensorboard, wandb"):
        make_logger("excel", tmp_path)
    with pytest.raises(ValueError, match="writes into the run's folder"):
        make_logger("csv", None)
