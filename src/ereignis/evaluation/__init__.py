"""Evaluation stage: run dir -> run dir/eval. Entry: `evaluate_run(cfg)`."""

from ereignis.evaluation.run import evaluate_run

__all__ = ["evaluate_run"]
