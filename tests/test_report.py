"""report.md / report.html and the model card, from hand-made eval dirs (tests/evalfixture.py):
the numbers of metrics.json beside their intervals, figures, error analysis, verdicts withheld
on few articles, and escaping of whatever text labels and articles carry."""

import base64
import html
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from huggingface_hub import ModelCard

from ereignis.card.card import build_card
from ereignis.evaluation.report import error_examples, per_label_f1_intervals, verdict, write_reports
from ereignis.templates import markdown_text
from tests.evalfixture import HOSTILE_LABELS, make_run

markdown_it = pytest.importorskip("markdown_it")
PNG = b"\x89PNG\r\n\x1a\n"


def to_html(markdown: str) -> str:
    """Markdown as GitHub or the Hugging Face hub would show it (raw HTML passed through, so an injection shows)."""
    return markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


class Tags(HTMLParser):
    """Every start tag with its attributes, and the tables' rows as cell counts."""

    def __init__(self):
        super().__init__()
        self.tags, self.rows = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append(0)
        elif tag in ("td", "th"):
            self.rows[-1] += 1


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("report") / "run", external={"news": 40})
    paths = write_reports(run / "eval")
    return run, paths["markdown"].read_text(encoding="utf-8"), paths["html"].read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("hostile") / "run", labels=HOSTILE_LABELS,
                   external={"<b>news|x</b> ![p](http://evil.example/e.png)": 30})
    paths = write_reports(run / "eval")
    card = build_card(run)
    return run, paths["markdown"].read_text(encoding="utf-8"), paths["html"].read_text(encoding="utf-8"), str(card)


def test_tables_carry_the_numbers_of_metrics_json_with_their_intervals(evaluated):
    run, markdown, page = evaluated
    metrics = read(run / "eval" / "metrics.json")
    test = metrics["splits"]["test"]
    for system in metrics["systems"]:
        scores, intervals = test["systems"][system], test["intervals"][system]
        cell = f"{scores['macro_f1']:.3f} [{intervals['macro_f1']['low']:.3f}, {intervals['macro_f1']['high']:.3f}]"
        assert cell in markdown and cell in page, system
    for label, scores in test["systems"]["model"]["per_label"].items():
        [row] = [line for line in markdown.splitlines() if line.startswith(f"| {label} | {scores['support']} |")
                 and f"| {scores['precision']:.3f} | {scores['recall']:.3f} | {scores['f1']:.3f} [" in line]
        for baseline in ("tfidf_word", "tfidf_char", "prior"):
            assert f"{test['systems'][baseline]['per_label'][label]['f1']:.3f}" in row
    # test first, then the external set, validation last (its thresholds were fitted there)
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert headings.index("## Test split (150 articles)") < headings.index("## External test set: news (40 articles)") \
        < headings.index("## Validation split (80 articles)")
    assert "Glossary / Glossar" in markdown and "Trefferquote" in markdown and "calibration error" in markdown


def test_per_label_intervals_bracket_the_point_estimate_and_shrink_with_more_articles():
    rng = np.random.default_rng(0)
    bootstrap = {"n_resamples": 300, "confidence": 0.95, "seed": 0}
    widths = []
    for n in (40, 1000):
        gold = (rng.random((n, 2)) < 0.3).astype(int)
        predicted = np.where(rng.random(gold.shape) < 0.85, gold, 1 - gold)
        intervals = per_label_f1_intervals(gold, predicted, ["a", "b"], bootstrap)
        tp, fp, fn = ((gold & predicted).sum(0), ((1 - gold) & predicted).sum(0), (gold & (1 - predicted)).sum(0))
        f1 = 2 * tp / (2 * tp + fp + fn)
        for j, label in enumerate(["a", "b"]):
            assert intervals[label]["low"] <= f1[j] <= intervals[label]["high"]
        widths.append(intervals["a"]["high"] - intervals["a"]["low"])
    assert widths[0] > 2 * widths[1]
    nothing = per_label_f1_intervals(np.zeros((5, 1), int), np.zeros((5, 1), int), ["none"], bootstrap)
    assert nothing == {"none": None}  # no positive article: no interval to show


@pytest.mark.parametrize(("low", "high", "unreliable", "expected"), [
    (0.05, 0.2, [], "the model is better than tfidf_word"),
    (-0.2, -0.05, [], "the model is worse than tfidf_word"),
    (-0.05, 0.1, [], "no clear difference"),
    (0.05, 0.2, ["rare"], "No verdict: rare has fewer than 10 articles here"),
])
def test_verdict_needs_an_interval_clear_of_zero_and_enough_articles_per_label(low, high, unreliable, expected):
    result = {"systems": {"model": {"macro_f1": 0.8}, "tfidf_word": {"macro_f1": 0.7}},
              "intervals": {"model_minus_tfidf_word": {"macro_f1": {"low": low, "high": high}}},
              "unreliable_labels": unreliable}
    text = verdict(result, "tfidf_word")
    assert expected in text and "+0.100" in text
    if unreliable:
        assert "better" not in text and "worse" not in text


def test_the_report_withholds_the_verdict_where_a_label_has_few_articles(evaluated):
    run, markdown, _ = evaluated
    metrics = read(run / "eval" / "metrics.json")
    external = metrics["external"]["news"]
    assert external["unreliable_labels"]  # 40 articles: the rare label has fewer than 10
    section = markdown[markdown.index("## External test set: news"):markdown.index("## Validation split")]
    assert "No verdict" in section and "is better than" not in section
    for label in external["unreliable_labels"]:
        assert re.search(rf"^\| {label} \|.*\] † \|", section, flags=re.M), label


def test_error_examples_are_the_most_confident_mistakes_with_their_evidence():
    gold = np.array([[0], [0], [0], [1], [1], [1]])
    predicted = np.array([[1], [1], [0], [0], [0], [1]])
    rows = [{"id": f"x{i}", "excerpt": f"Artikel {i}",  # evidence is recorded for predicted labels
             "evidence": {"a": {"window": 1, "sentence": f"Satz {i}."}} if predicted[i, 0] else {}} for i in range(6)]
    scores = np.array([[0.7], [0.9], [0.4], [0.45], [0.1], [0.8]])
    [(label, examples)] = error_examples(rows, ["a"], scores, gold, predicted, k=1).items()
    assert [(e["kind"], e["id"]) for e in examples] == [("wrongly flagged", "x1"), ("missed", "x4")]
    assert examples[0]["evidence"] == "window 2: Satz 1." and examples[0]["excerpt"] == "Artikel 1"
    assert "did not give this label" in examples[1]["evidence"]


def test_figures_are_written_beside_the_markdown_and_embedded_in_the_html(evaluated):
    run, markdown, page = evaluated
    linked = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", markdown)
    # test and external set: F1, precision-recall, calibration, co-occurrence, threshold sweep, scores
    assert len(linked) == 12 and any("cooccurrence" in name for name in linked)
    for name in linked:
        assert (run / "eval" / name).read_bytes().startswith(PNG)
    images = [attrs for tag, attrs in parse(page).tags if tag == "img"]
    assert len(images) == len(linked)
    for attrs in images:
        assert attrs["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(attrs["src"].split(",", 1)[1]).startswith(PNG)
    # nothing the page could fetch, and a policy that forbids it anyway
    assert not re.search(r"""(src|href)=["'](https?:|//)""", page)
    assert "default-src 'none'" in page and "<script" not in page


def test_single_label_reports_accuracy_and_a_confusion_matrix(tmp_path):
    run = make_run(tmp_path / "run", task="single_label")
    markdown = write_reports(run / "eval")["markdown"].read_text(encoding="utf-8")
    assert "| system | accuracy | macro-F1 |" in markdown and "all labels right" not in markdown
    assert "confusion.png" in markdown and "cooccurrence" not in markdown and "threshold_sweep" not in markdown
    assert "### Per class" in markdown and "Single-label task" in markdown


@pytest.mark.parametrize("text", [label.definition for label in HOSTILE_LABELS] + [
    "a|b", "<script>alert(1)</script>", "![x](http://evil.example/x.png)", "[x](javascript:alert(1))", "1. Punkt",
    "# Titel", "*fett* und _kursiv_ und __init__", "&amp; &#169;", "`code` ``mehr``", "Zeile\r\nzwei", "\\|",
    "Kosten $5 und $\\frac{1}{2}$"])
def test_markdown_text_shows_exactly_the_text_in_a_cell_and_a_paragraph(text):
    shown = " ".join(text.split()) if "\n" in text or "\r" in text else text
    paragraph = to_html(markdown_text(text))
    assert html.unescape(re.sub(r"</?p>\n?", "", paragraph)).strip() == shown.strip()
    table = to_html(f"| h | i |\n|---|---|\n| {markdown_text(text)} | z |\n")
    assert parse(table).rows == [2, 2]
    assert html.unescape(re.search(r"<td>(.*?)</td>", table, flags=re.S).group(1)) == shown.strip()


def test_hostile_labels_and_ids_are_shown_as_text_in_report_and_card(hostile):
    run, markdown, page, card = hostile
    for document in (to_html(markdown), to_html(card.split("---", 2)[2]), page):
        tags = parse(document)
        assert not any(tag in ("script", "b", "em") for tag, _ in tags.tags)
        for tag, attrs in tags.tags:
            assert not any(name.startswith("on") for name in attrs), (tag, attrs)
            if tag == "img":
                assert attrs["src"].startswith(("figures/", "data:image/png")), attrs
            if tag == "a":  # only the page's own table of contents links
                assert attrs["href"].startswith("#"), attrs
    # the texts arrive intact, as text
    assert "Protest &lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in page
    assert "pro|test" in html.unescape(to_html(markdown))
    assert "THRESHOLDS = {\"pro|test\": 0.4, \"<b>summit</b>\": 0.55" in card  # code block: verbatim, still valid


def test_every_markdown_table_row_has_as_many_cells_as_its_header(hostile):
    _, markdown, _, card = hostile
    for document in (markdown, card.split("---", 2)[2]):
        rendered = to_html(document)
        for table in re.findall(r"<table>.*?</table>", rendered, flags=re.S):
            counts = parse(table).rows
            assert len(set(counts)) == 1, counts


def test_card_states_the_task_and_the_decision_rule_it_ships_with(tmp_path):
    run = make_run(tmp_path / "run", external={"news": 40})
    card = build_card(run, repo_id="org/model")
    text = card.text
    assert "Multi-label classifier" in text and "sigmoid(logit / 1.500)" in text
    assert "| protest | 0.40 | 30 | 0.600 | 0.640 | fitted |" in text
    assert "| rare_event | 0.50 | 5 | 0.600 | 0.600 | too few positives |" in text
    assert 'THRESHOLDS = {"protest": 0.4, "summit": 0.55, "sanctions": 0.5, "rare_event": 0.5}' in text
    assert "| learning rate | 5e-05 (linear, warm-up ratio 0.1) |" in text and "| method | fine-tuned encoder |" in text
    metrics = read(run / "eval" / "metrics.json")
    results = {(r.dataset_name, r.metric_name): r.metric_value for r in card.data.eval_results}
    assert results[("fixture_data", "macro-F1")] == round(metrics["splits"]["test"]["systems"]["model"]["macro_f1"], 4)
    assert ("news", "all labels right") in results and card.data.tags[0] == "multi-label-classification"
    ModelCard(str(card))  # the YAML header survives a round trip

    evaluated_with_override = read(run / "eval" / "metrics.json")
    evaluated_with_override["decision"]["override"] = {"threshold": 0.3}
    (run / "eval" / "metrics.json").write_text(json.dumps(evaluated_with_override), encoding="utf-8")
    assert "The evaluation overrode the decision rule (every label at 0.3)" in build_card(run).text


def as_legacy(run):
    """The run's eval dir as the evaluation wrote it before the decision rule: one threshold, one baseline."""
    metrics = read(run / "eval" / "metrics.json")
    legacy = {key: metrics[key] for key in ("run_dir", "labels", "bootstrap")}
    legacy.update(threshold=0.5, long_articles="truncate", baseline="tfidf_logreg", splits={}, external={})
    for group in ("splits", "external"):
        for name, section in metrics[group].items():
            intervals = section["intervals"]
            legacy[group][name] = {"n": section["n"],
                                   "systems": {"model": section["systems"]["model"],
                                               "baseline": section["systems"]["tfidf_word"]},
                                   "intervals": {"model": intervals["model"], "baseline": intervals["tfidf_word"],
                                                 "model_minus_baseline": intervals["model_minus_tfidf_word"]}}
    (run / "eval" / "metrics.json").write_text(json.dumps(legacy), encoding="utf-8")
    rows = [json.loads(line) for line in (run / "eval" / "predictions.jsonl").open(encoding="utf-8")]
    (run / "eval" / "predictions.jsonl").write_text("".join(
        json.dumps({key: row[key] for key in ("id", "split", "gold", "predicted", "scores")}
                   | {"baseline_scores": row["baseline_scores"]["tfidf_word"]}) + "\n" for row in rows))
    (run / "decision.json").unlink()
    return legacy


def test_an_evaluation_from_before_the_decision_rule_still_gets_its_card(tmp_path):
    run = make_run(tmp_path / "run")
    as_legacy(run)
    text = build_card(run).text
    assert "| protest | 0.50 |" in text and "baseline (reference)" in text
