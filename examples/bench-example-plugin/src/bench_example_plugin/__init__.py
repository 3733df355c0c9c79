"""Example ECG Bench plugin package: models, a task and a metric (see ``plugin.py``)."""
