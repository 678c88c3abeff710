"""The one Lightning Trainer factory, its progress bar, and how a training step reports its losses.

Every method trains through ``make_trainer``: Gatys' pixels (one epoch over ``steps`` dummy batches), DeepDream,
fast networks and CycleGAN. A step's losses go one way: ``record_step`` appends them to the module's history (the
source of ``history.csv`` and the run's metrics) and hands them to Lightning, which shows them in the progress bar
and passes them to the run's logger (W&B) every ``log_every`` steps.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.loggers import Logger


class StepBar(TQDMProgressBar):
    """Lightning's bar, labelled with what runs (``gatys 256x171``, ``fast-starry_night``) instead of 'Epoch 0'."""

    def __init__(self, label: str, position: int = 0) -> None:
        super().__init__(process_position=position)
        self.label = label

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: object) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(self.label)


def quiet_lightning() -> None:
    """Lightning's banner lines and the num_workers hint are noise for a pixel optimisation."""
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*`training_step` returned `None`.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=".*Starting from v1.9.0, `tensorboardX` has been removed.*")
    warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode at the start of training.*")  # frozen nets


def make_trainer(device: str = "cpu", *, label: str = "", progress: bool = False, max_steps: int = -1,
                 max_epochs: int = 1, precision: str = "32", callbacks: Iterable[pl.Callback] = (),
                 logger: Logger | None = None, log_every: int = 1, bar_position: int = 0) -> pl.Trainer:
    """A single-device Trainer with no checkpointing or logging of its own: the run folder is the record."""
    quiet_lightning()
    bars = [StepBar(label, bar_position)] if progress else []
    return pl.Trainer(accelerator="gpu" if device.startswith("cuda") else "cpu", devices=1, precision=precision,
                      max_steps=max_steps, max_epochs=max_epochs, logger=logger or False,
                      enable_checkpointing=False, enable_model_summary=False, num_sanity_val_steps=0,
                      enable_progress_bar=progress, callbacks=[*callbacks, *bars], log_every_n_steps=max(1, log_every))


def record_step(module: pl.LightningModule, values: Mapping[str, float], step: int, shown: Sequence[str]) -> None:
    """The end of every training step: one history row, ``shown`` terms in the bar, every term to the logger."""
    module.history.append({"step": step, **values})
    module.log_dict({k: values[k] for k in shown if k in values}, prog_bar=True, logger=False, on_step=True,
                    on_epoch=False)
    if module.trainer.logger is not None:  # "step" is Lightning's key for the logger's step: continuous across
        #                                     the Trainers of a coarse-to-fine run, as the history is
        module.log_dict({f"loss/{k}": v for k, v in values.items()} | {"step": float(step)}, prog_bar=False,
                        logger=True, on_step=True, on_epoch=False)
