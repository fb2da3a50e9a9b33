"""Training on several processes (distributed data parallel) with torchrun, started by `ereignis-train`.

    ereignis-train model=gbert_base train=ddp            one process per visible GPU
    ereignis-train train.processes=2 train.use_cpu=true  two CPU processes (gloo), e.g. to test it

`train.processes > 1` makes the training function a launcher. The config is composed and the run dir
chosen once, in the launching process, and written to `<run dir>/.launch.yaml` (resolved, so every
worker trains with exactly the same settings in the same run dir; removed when the workers end). The
launcher records the run's status (`run.json`) and starts the workers with
`python -m torch.distributed.run --standalone --nproc-per-node=N -m ereignis.distributed <that file>`.
In the workers the Trainer wraps the model in DistributedDataParallel (NCCL on GPUs, gloo on CPUs);
each takes every N-th batch, so `train.batch_size` is per process and the effective batch is
processes x batch_size x gradient_accumulation_steps (recorded in the manifest). Only rank 0 writes: the
Trainer saves checkpoints on rank 0, and `train_on` returns on the other ranks once training ends;
rank 0 alone scores the splits, fits the decision rule and writes the run dir.

Several machines: start `ereignis-train` under torchrun yourself on each node (`torchrun --nnodes ...
$(which ereignis-train) hydra.run.dir=<a folder every node sees> ...`); rank 0 then records the status.

This module imports nothing heavy: `ereignis.runs` asks it who records a run's status.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

LAUNCH_CONFIG = ".launch.yaml"
LAUNCHED_BY_EREIGNIS = "EREIGNIS_LAUNCHED"  # set for the workers: their launcher records the run's status


def rank() -> int:
    """This process's rank among all training processes (0 when not distributed)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """How many processes train together (1 when not distributed)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def in_worker() -> bool:
    """Whether torchrun started this process (it sets LOCAL_RANK for each worker)."""
    return "LOCAL_RANK" in os.environ


def is_main_process() -> bool:
    return rank() == 0


def records_own_status() -> bool:
    """Whether this process writes `run.json`: a single process, or rank 0 of a torchrun the user started;
    workers of `ereignis-train`'s own launch leave it to the launcher."""
    return is_main_process() and LAUNCHED_BY_EREIGNIS not in os.environ


def process_count(processes: int | str) -> int:
    """`train.processes`: a number, or `auto` (one per visible GPU; one on a machine without GPUs)."""
    if processes == "auto":
        import torch

        return max(torch.cuda.device_count(), 1)
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"train.processes must be a positive number or 'auto', got {processes!r}")
    return processes


def should_launch(cfg: DictConfig) -> int:
    """The number of workers to start, or 0 where this process trains itself (one process, or already a worker)."""
    processes = process_count(cfg.train.get("processes", 1))
    if processes == 1 or in_worker():
        return 0
    if cfg.train.method != "finetune":
        raise ValueError(f"train.processes={processes}: only train.method=finetune trains on several processes "
                         f"({cfg.train.method} fits its head in one process); set train.processes=1")
    return processes


def launch(cfg: DictConfig, processes: int) -> None:
    """Train in `processes` torchrun workers in `cfg.run_dir`; returns when they all ended well."""
    run_dir = Path(cfg.run_dir)
    launch_config = run_dir / LAUNCH_CONFIG
    launch_config.write_text(OmegaConf.to_yaml(cfg, resolve=True), encoding="utf-8")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
               "-m", __name__, str(launch_config)]
    log.info("training in %d processes: %s", processes, " ".join(command))
    try:
        finished = subprocess.run(command, env={**os.environ, LAUNCHED_BY_EREIGNIS: "1"}, check=False)
    finally:
        launch_config.unlink(missing_ok=True)
    if finished.returncode != 0:
        raise RuntimeError(f"the {processes} training processes failed (torchrun exit status {finished.returncode}); "
                           f"their output is above, rank 0's log in {run_dir / 'train.log'}")


def _worker_logging(run_dir: Path) -> None:
    """Rank 0 logs like a one-process run (terminal and train.log); the others only their warnings."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if is_main_process():
        handlers.append(logging.FileHandler(run_dir / "train.log", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO if is_main_process() else logging.WARNING, handlers=handlers,
                        format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s", force=True)


def _worker(launch_config: str) -> None:
    from ereignis.cli import quiet_progress_bars
    from ereignis.training import train

    cfg = OmegaConf.load(launch_config)
    _worker_logging(Path(cfg.run_dir))
    quiet_progress_bars()
    train(cfg)


if __name__ == "__main__":
    _worker(sys.argv[1])
