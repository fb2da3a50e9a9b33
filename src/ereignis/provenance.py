"""What a run records about where it came from: git commit, package versions, hardware."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("ereignis", "torch", "transformers", "datasets", "tokenizers", "huggingface_hub",
            "accelerate", "scikit-learn", "iterative-stratification", "hydra-core", "omegaconf", "numpy")


def git_state(cwd: str | Path = Path(__file__).parent) -> dict[str, object]:
    """Commit and dirty flag of the checkout the running ereignis code comes from."""
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def hardware() -> dict[str, object]:
    import torch

    info: dict[str, object] = {"python": platform.python_version(), "platform": platform.platform(),
                               "cpu_count": os.cpu_count(), "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info
