"""What a Trainer user expects: further TrainingArguments pass through, a logger choice with step-level loss,
progress bars only in a terminal, model-only checkpoints unless a run asks to be resumable."""

import pytest

from ereignis.data import build_dataset
from ereignis.runs import RunDir
from ereignis.training import train
from ereignis.training.train import _training_arguments
from tests.conftest import compose_config, synthetic_corpus, write_folder


def _arguments(tmp_path, *overrides: str):
    return _training_arguments(compose_config("train", list(overrides)), tmp_path)


def test_further_training_arguments_pass_through_and_win(tmp_path):
    args = _arguments(tmp_path, "+train.extra_args.max_grad_norm=0.5", "+train.extra_args.logging_steps=3")
    assert args.max_grad_norm == 0.5 and args.logging_steps == 3 and args.logging_strategy == "steps"
    with pytest.raises(ValueError, match=r"\['max_grad_nrom'\] are no transformers.TrainingArguments"):
        _arguments(tmp_path, "+train.extra_args.max_grad_nrom=0.5")


def test_logger_choice(tmp_path):
    assert _arguments(tmp_path).report_to == []
    assert _arguments(tmp_path, "train.report_to=tensorboard").report_to == ["tensorboard"]
    with pytest.raises(ValueError, match="train.report_to must be one of"):
        _arguments(tmp_path, "train.report_to=wandb")


def test_only_resumable_runs_save_optimizer_state(tmp_path):
    assert _arguments(tmp_path).save_only_model
    assert not _arguments(tmp_path, "train.resumable=true").save_only_model


def test_progress_bars_only_in_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert not _arguments(tmp_path).disable_tqdm
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert _arguments(tmp_path).disable_tqdm


@pytest.mark.slow
def test_tensorboard_gets_the_step_loss_in_the_run_dir(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    articles, labels = synthetic_corpus()
    build_dataset(compose_config("build_data", [f"data.input={write_folder(tmp_path / 'articles', articles, labels)}",
                                                f"data.output_dir={tmp_path / 'dataset'}"]))
    run = RunDir(tmp_path / "run")
    train(compose_config("train", [f"data.output_dir={tmp_path / 'dataset'}", f"run_dir={run.path}", "debug=fast",
                                   "train.report_to=tensorboard", "train.logging_steps=1"]))
    [events] = [path.parent for path in run.tensorboard_dir.rglob("events.out.tfevents.*")]
    scalars = EventAccumulator(str(events)).Reload().Tags()["scalars"]
    assert {"train/loss", "eval/macro_f1"} <= set(scalars)
    assert [event.step for event in EventAccumulator(str(events)).Reload().Scalars("train/loss")] == [1, 2, 3, 4, 5]
    assert not (run.model_dir / "training_args.bin").exists()  # no pickle in the model folder
    assert run.training_arguments()["report_to"] == ["tensorboard"]
