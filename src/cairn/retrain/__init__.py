"""Closing the loop: retraining a served model on its labelled production predictions.

``feedback`` exports the labelled prediction log as a data file (the model's columns plus
the label) and keeps the most recent rows aside; ``compare`` scores two model versions on
those rows; ``retrain`` forks the version's training run with the file added as an input,
registers what it logged as the ``candidate`` and records the comparison.
"""
