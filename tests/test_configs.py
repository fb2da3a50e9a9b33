"""Every primary config, config-group option and preset composes and resolves."""

from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from ereignis.cli import CONFIG_DIR
from ereignis.labels import LabelSchema
from tests.conftest import SHARED_EVENTS, compose_config

CONFIGS = Path(CONFIG_DIR)
REQUIRED = {"eval": ["run_dir=/tmp/run"], "card": ["run_dir=/tmp/run"],
            "predict": ["run_dir=/tmp/run", "input=/tmp/in"]}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


def resolved(name: str, overrides: list[str]) -> dict:
    cfg = compose_config(name, [*REQUIRED.get(name, []), *overrides])
    if name == "train":
        cfg.run_dir = "/tmp/run"  # Hydra's run dir exists only under @hydra.main
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


@pytest.mark.parametrize("name", ["build_data", "train", "eval", "card", "predict"])
def test_primary_configs_compose(name):
    assert resolved(name, [])


@pytest.mark.parametrize("model", options("model"))
def test_every_model_composes_for_training(model):
    cfg = resolved("train", [f"model={model}"])
    long_context = model.startswith("moderngbert")  # ModernBERT reads 8,192 tokens
    assert cfg["model"]["name"] == model and cfg["model"]["max_length"] <= (8192 if long_context else 512)
    assert cfg["model"]["licence"] and cfg["model"]["head"] in ("cls", "mean")
    assert cfg["train"]["learning_rate"] == cfg["model"]["learning_rate"]
    assert (cfg["model"]["name_or_path"] is None) == (model == "tiny")


@pytest.mark.parametrize("train", options("train"))
@pytest.mark.parametrize("debug", [None, *options("debug")])
def test_every_train_and_debug_option_composes(train, debug):
    assert resolved("train", [f"train={train}", *([f"debug={debug}"] if debug else [])])


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_preset_composes_and_names_its_command(experiment):
    assert resolved("train", [f"experiment={experiment}"])
    header = (CONFIGS / "experiment" / f"{experiment}.yaml").read_text().splitlines()
    assert header[0] == "# @package _global_"
    assert any(f"experiment={experiment}" in line for line in header if line.startswith("#"))


@pytest.mark.parametrize("data", options("data"))
def test_every_data_option_composes(data):
    cfg = resolved("build_data", [f"data={data}", "data.input=/tmp/in"])
    assert cfg["data"]["split"]["mode"] in {"stratified", "test_only"}


def test_custom_data_demands_an_input():
    from omegaconf.errors import MissingMandatoryValue

    cfg = compose_config("build_data", ["data=custom"])
    with pytest.raises(MissingMandatoryValue):
        cfg.data.input  # noqa: B018 - a user's own data never falls back to the embedded corpus
    assert compose_config("train", ["data=custom", "data.name=my_news"]).dataset_dir.endswith("processed/my_news")


def test_demo_preset_uses_the_offline_model():
    cfg = resolved("train", ["experiment=demo"])
    assert cfg["model"]["name"] == "tiny" and cfg["experiment_name"] == "demo"


def test_gpu_preset_turns_on_bf16_and_compile():
    cfg = resolved("train", ["experiment=gbert_base"])
    assert cfg["model"]["name_or_path"] == "deepset/gbert-base"
    assert cfg["train"]["precision"] == "bf16" and cfg["train"]["torch_compile"] is True


def test_label_schema_has_the_eight_event_types_with_definitions():
    schema = LabelSchema.from_dict(yaml.safe_load((CONFIGS / "labels" / "events_de.yaml").read_text()))
    assert schema.ids == ("phone_call", "summit", "counterterror_cooperation", "negotiation", "sanctions",
                          "military_action", "terror_attack", "protest")
    assert all(label.name and label.definition and label.excludes for label in schema.labels)


@pytest.mark.skipif(not SHARED_EVENTS.is_dir(), reason="../shared is not beside this checkout")
def test_label_ids_match_the_codebook():
    codebook = (SHARED_EVENTS / "codebook.md").read_text(encoding="utf-8")
    schema = LabelSchema.from_dict(yaml.safe_load((CONFIGS / "labels" / "events_de.yaml").read_text()))
    assert all(f"`{label}`" in codebook for label in schema.ids)


def test_a_user_taxonomy_is_a_config_override(tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "mine.yaml").write_text("name: mine\nlabels:\n  - {id: flood, name: Hochwasser}\n")
    cfg = compose_config("build_data", [f"hydra.searchpath=[file://{tmp_path}]", "labels=mine"])
    assert [label["id"] for label in cfg.labels.labels] == ["flood"]
