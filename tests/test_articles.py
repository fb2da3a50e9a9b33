import pytest

from ereignis.data import parse_article
from tests.conftest import SHARED_EVENTS

STRUCTURED = """Titel der Meldung

Der Vorspann fasst zusammen, worum es geht.

Ein Foto zeigt den Minister. - Agentur

Das Wichtigste in Kürze

{b} Erster Punkt mit einer Aussage.
{b} Zweiter Punkt.

Der erste Absatz des Haupttextes.

Zwischentitel

Der zweite Absatz.
"""


@pytest.mark.parametrize("bullet", ["  •", "-"])
def test_structured_article_in_both_bullet_styles(bullet):
    article = parse_article(STRUCTURED.format(b=bullet))
    assert article.title == "Titel der Meldung"
    assert article.lead == "Der Vorspann fasst zusammen, worum es geht."
    assert article.caption == "Ein Foto zeigt den Minister. - Agentur"
    assert article.bullets == ("Erster Punkt mit einer Aussage.", "Zweiter Punkt.")
    assert article.body == "Der erste Absatz des Haupttextes.\n\nZwischentitel\n\nDer zweite Absatz."


def test_structured_article_without_blank_lines():
    raw = "Titel\nVorspann.\nDas Wichtigste in Kürze\n- Punkt eins.\n- Punkt zwei.\nHaupttext beginnt.\nMehr."
    article = parse_article(raw)
    assert (article.title, article.lead, article.bullets) == ("Titel", "Vorspann.", ("Punkt eins.", "Punkt zwei."))
    assert article.body == "Haupttext beginnt.\n\nMehr."


def test_text_puts_title_lead_and_key_points_before_the_body():
    article = parse_article(STRUCTURED.format(b="•"))
    assert article.text.index("Titel") < article.text.index("Vorspann") < article.text.index("Erster Punkt") \
        < article.text.index("Haupttextes")
    assert "Foto" not in article.text  # photo captions are kept apart


def test_plain_article_is_title_and_body():
    article = parse_article("Eine Schlagzeile\n\nErster Absatz.\n\nZweiter Absatz.\n")
    assert article.title == "Eine Schlagzeile"
    assert (article.lead, article.bullets) == ("", ())
    assert article.body == "Erster Absatz.\n\nZweiter Absatz."


def test_a_dash_inside_body_text_is_no_bullet():
    article = parse_article("T\n\nL\n\nDas Wichtigste in Kürze\n\n- Punkt.\n\nWien – Der Text beginnt.")
    assert article.bullets == ("Punkt.",)
    assert article.body.startswith("Wien – Der Text")


def test_single_block_text_has_no_title():
    article = parse_article("Nur ein einziger Absatz ohne Zeilenumbruch.")
    assert article.title == "" and article.body == "Nur ein einziger Absatz ohne Zeilenumbruch."


@pytest.mark.skipif(not SHARED_EVENTS.is_dir(), reason="../shared is not beside this checkout")
@pytest.mark.parametrize("name", ["000_2cc4a5013e58b67a", "004_4b1fcd5cc30016f9"])
def test_the_real_articles_parse_into_all_parts(name):
    article = parse_article((SHARED_EVENTS / f"{name}.txt").read_text(encoding="utf-8"))
    assert article.title and article.lead and article.body
    assert len(article.bullets) == 3
    assert not any(b.startswith(("•", "-")) for b in article.bullets)
