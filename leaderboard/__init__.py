"""Leaderboard: tables, figures and a static page generated from result records.

Installed as ``bench.leaderboard`` (setup.py maps this folder there); any other import
name is refused (:func:`bench.api.refuse_second_import_name`).
"""

from bench.api import refuse_second_import_name

refuse_second_import_name(__name__, "bench.leaderboard")
