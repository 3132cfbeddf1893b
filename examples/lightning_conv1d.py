"""Record the filters of a Conv1d LightningModule over `trainer.fit`, then draw the gallery.

The Lightning version of examples/record_conv1d.py, the situation of the seed Q&A "How can 1D CNN filters be
visualized in PyTorch?": a Conv1d model (its first layer `conv1`) whose filters you want to see. Here it learns to
tell five lab waveforms apart (cnnkreport's pulse signals); any LightningModule and data work the same way. The only
lines about cnnkreport are marked with # <--.

    python examples/lightning_conv1d.py                   # seconds on a laptop CPU; writes runs/lightning-conv1d
    cnnkreport render runs/lightning-conv1d --out site    # what the script does at its end, from the command line
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lightning
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cnnkreport.config import DataConfig
from cnnkreport.data import make_dataset
from cnnkreport.lightning import KernelRecorder  # <--
from cnnkreport.site import build_site  # <-- (the function behind `cnnkreport render`)


class Net(lightning.LightningModule):
    def __init__(self, classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, 8, kernel_size=15, padding=7)
        self.conv2 = nn.Conv1d(8, 16, kernel_size=9, padding=4)
        self.head = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, L) -> (B, classes)
        x = torch.max_pool1d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool1d(torch.relu(self.conv2(x)), 2)
        return self.head(x.amax(dim=2))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = nn.functional.cross_entropy(logits, y)
        self.log("train_loss", loss)  # the recorder reads what is logged: train_loss, train_acc, val_acc
        self.log("train_acc", (logits.argmax(1) == y).float().mean())
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("val_acc", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=5e-3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/lightning-conv1d"), help="run folder to write")
    ap.add_argument("--out", type=Path, default=Path("site"), help="site folder to draw the gallery into")
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()

    lightning.seed_everything(0, verbose=False)
    data = make_dataset(DataConfig(kind="signal", size=128, n_train=2000, n_test=500, noise=0.02), seed=0)
    train = TensorDataset(torch.from_numpy(data.x_train), torch.from_numpy(data.y_train))
    val = TensorDataset(torch.from_numpy(data.x_test), torch.from_numpy(data.y_test))
    module = Net(len(data.classes))
    trainer = lightning.Trainer(
        max_epochs=args.epochs,
        accelerator="cpu",
        callbacks=[KernelRecorder(args.run, every=10)],  # <-- step 0 before the first batch, then every 10th step
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(train, batch_size=64, shuffle=True), DataLoader(val, batch_size=500))
    accuracy = float(trainer.callback_metrics["val_acc"])
    print(f"recorded {trainer.global_step} steps into {args.run}; validation accuracy {accuracy:.1%}")
    build_site([args.run], args.out)  # <-- the gallery: what `cnnkreport render RUN --out SITE` does
    print(f"gallery: {args.out / 'index.html'}")


if __name__ == "__main__":
    main()
