"""Shared test helpers: compose the real Hydra configs, and write small labelled inputs."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from ereignis.cli import CONFIG_DIR

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_EVENTS = SHARED / "events"
CORPUS = REPO / "data" / "events_de"

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach a hub


def compose_config(name: str, overrides: list[str] | None = None) -> DictConfig:
    """The project's real config, composed as the entry point would, with test overrides."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name=name, overrides=[f"paths.root_dir={REPO}", *(overrides or [])])


def write_folder(folder: Path, articles: dict[str, str], labels: dict[str, list[str]] | None) -> Path:
    """`<id>.txt` files plus a labels.csv (omitted when `labels` is None)."""
    folder.mkdir(parents=True, exist_ok=True)
    for article_id, text in articles.items():
        (folder / f"{article_id}.txt").write_text(text, encoding="utf-8")
    if labels is not None:
        with open(folder / "labels.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "labels"])
            for article_id, names in labels.items():
                writer.writerow([article_id, ";".join(names)])
    return folder


# Sentences per label for a synthetic corpus; each article mixes its labels' sentences.
CUES = {
    "phone_call": "Die Kanzlerin telefonierte am Abend mit dem Präsidenten Frankreichs.",
    "summit": "Die Staats- und Regierungschefs trafen sich zum Gipfel in Brüssel.",
    "counterterror_cooperation": "Ein Hinweis des Partnerdienstes führte zu gemeinsamen Festnahmen.",
    "negotiation": "Die Delegationen verhandelten in Genf über ein Abkommen.",
    "sanctions": "Die EU verhängte neue Sanktionen und fror Vermögen ein.",
    "military_action": "Die Armee griff Stellungen mit Artillerie und Drohnen an.",
    "terror_attack": "Bei dem Bombenanschlag auf den Bahnhof starben drei Menschen.",
    "protest": "Zehntausende demonstrierten auf dem Hauptplatz gegen die Regierung.",
}
NEUTRAL = "Das Wetter bleibt nach Angaben der Meteorologen in den kommenden Tagen wechselhaft."


def synthetic_corpus(n_per_label: int = 6) -> tuple[dict[str, str], dict[str, list[str]]]:
    """A small, balanced, multi-label corpus with a few unlabelled articles."""
    ids = list(CUES)
    articles, labels = {}, {}
    for i in range(n_per_label * len(ids)):
        chosen = [ids[i % len(ids)]] + ([ids[(i * 3 + 1) % len(ids)]] if i % 3 == 0 else [])
        chosen = list(dict.fromkeys(chosen))
        article_id = f"syn-{i:03d}"
        body = " ".join(CUES[label] for label in chosen)
        articles[article_id] = f"Meldung Nummer {i}\n\n{body} Es ist Artikel {i}. {NEUTRAL}"
        labels[article_id] = chosen
    for i in range(n_per_label):
        article_id = f"neg-{i:03d}"
        articles[article_id] = f"Wetterbericht {i}\n\n{NEUTRAL} Ausgabe {i}."
        labels[article_id] = []
    return articles, labels


def build_synthetic_dataset(root: Path, n_per_label: int = 6, overrides: list[str] | None = None) -> Path:
    """The synthetic corpus written to `root/articles` and built into `root/dataset`; returns the dataset dir."""
    from ereignis.data import build_dataset

    articles, labels = synthetic_corpus(n_per_label)
    folder = write_folder(root / "articles", articles, labels)
    build_dataset(compose_config("build_data", [f"data.input={folder}", f"data.output_dir={root / 'dataset'}",
                                                *(overrides or [])]))
    return root / "dataset"


@pytest.fixture
def synthetic_folder(tmp_path: Path) -> Path:
    articles, labels = synthetic_corpus()
    return write_folder(tmp_path / "articles", articles, labels)


def tiny_model_folder(folder: Path, mean_pooling: bool = False) -> Path:
    """The tiny model, untrained, as a model folder: with the CLS head, or with e5's mean-pooling head."""
    import torch

    from ereignis.labels import Label, LabelSchema
    from ereignis.modeling import load_model, load_tokenizer
    from ereignis.modeling.pooling import BertMeanPoolingForSequenceClassification

    schema = LabelSchema("two", (Label("summit", "Gipfel"), Label("protest", "Protest")))
    texts = list(synthetic_corpus()[0].values())
    cfg = compose_config("train", ["model.max_length=128"]).model
    tokenizer = load_tokenizer(cfg, texts)
    model = load_model(cfg, schema, tokenizer)
    if mean_pooling:
        torch.manual_seed(0)
        model.config.architectures = [BertMeanPoolingForSequenceClassification.__name__]
        model = BertMeanPoolingForSequenceClassification(model.config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
