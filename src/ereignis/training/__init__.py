"""Training stage: dataset dir -> run dir. Entry: `train(cfg)`."""

from ereignis.training.train import train

__all__ = ["train"]
