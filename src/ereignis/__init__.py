"""ereignis: classify German news articles by the events they report.

Stages, each with one entry function, meeting at files on disk:

    articles --ereignis.data.build_dataset--> dataset dir
             --ereignis.training.train--> run dir
             --ereignis.evaluation.evaluate_run--> run dir/eval
             --ereignis.card.write_card--> run dir/model/README.md
    new articles --ereignis.predict.predict--> predictions.jsonl
"""

__version__ = "0.1.0"
