"""ereignis: classify German news articles by the events they report.

Stages, each with one entry function, meeting at files on disk:

    articles --ereignis.data.build_dataset--> dataset dir
             --ereignis.training.train--> run dir
             --ereignis.evaluation.evaluate_run--> run dir/eval
             --ereignis.card.write_card--> run dir/model/README.md
    new articles --ereignis.predict.predict--> predictions.jsonl

In a notebook: `ereignis.load(run_dir).predict(texts)` and `ereignis.compose(stage, overrides)`
(`ereignis.api`).
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `import ereignis` stays light (no torch) until the API is used
    if name in ("load", "compose"):
        from ereignis import api

        return getattr(api, name)
    raise AttributeError(f"module 'ereignis' has no attribute {name!r}")
