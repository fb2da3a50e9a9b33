"""The label schema: which event types exist, in which order, and what each one means.

It travels between stages as `labels.json` (dataset dir, then run dir), so later stages never
need the YAML config that defined it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ereignis.io import atomic_write_json, read_json
from ereignis.task import PROBLEM_TYPES, check_task


@dataclass(frozen=True)
class Label:
    id: str
    name: str
    definition: str = ""
    excludes: str = ""


@dataclass(frozen=True)
class LabelSchema:
    name: str
    labels: tuple[Label, ...]
    language: str = "de"
    rule: str = ""
    task: str = "multi_label"   # multi_label: any number of labels per article | single_label: exactly one
    ids: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        ids = tuple(label.id for label in self.labels)
        if not ids:
            raise ValueError(f"label schema '{self.name}' defines no labels")
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"label schema '{self.name}' repeats label ids: {duplicates}")
        object.__setattr__(self, "ids", ids)
        check_task(self.task)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelSchema:
        labels = tuple(Label(**dict(item)) for item in data["labels"])
        return cls(name=data["name"], labels=labels, language=data.get("language", "de"), rule=data.get("rule", ""),
                   task=data.get("task", "multi_label"))

    @classmethod
    def load(cls, path: str | Path) -> LabelSchema:
        return cls.from_dict(read_json(path))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "language": self.language,
            "rule": self.rule,
            "task": self.task,
            "labels": [asdict(label) for label in self.labels],
        }

    def save(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_dict())

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.ids))

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.ids)}

    def multi_hot(self, label_ids: list[str]) -> list[float]:
        present = set(label_ids)
        return [1.0 if label in present else 0.0 for label in self.ids]

    @property
    def problem_type(self) -> str:
        """The transformers `problem_type` of this task."""
        return PROBLEM_TYPES[self.task]
