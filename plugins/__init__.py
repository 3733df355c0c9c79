"""Built-in plugins: the models (HeartBEiT, ImageNet baselines, ECG-FM), metrics, MLflow logger.

Installed as ``bench.plugins`` (setup.py maps this folder there); any other import
name is refused (:func:`bench.api.refuse_second_import_name`).
"""

from bench.api import refuse_second_import_name

refuse_second_import_name(__name__, "bench.plugins")
