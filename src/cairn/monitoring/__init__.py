"""Watching a deployed model: live metrics from labelled predictions, drift against the
training profile, and the monitor report that ``cairn monitor``, the model server's
``/monitor`` and the web UI's deployment page all show."""
