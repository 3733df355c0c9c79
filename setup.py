"""Package layout: the top-level folders plugins/, tasks/ and leaderboard/ install under
the ``bench`` namespace (``bench.plugins``, ``bench.tasks``, ``bench.leaderboard``), so
site-packages gains no generic top-level name. Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

#: import name → folder in this repository
ROOTS = {
    "bench": "bench",
    "bench.plugins": "plugins",
    "bench.tasks": "tasks",
    "bench.leaderboard": "leaderboard",
}

packages = []
for name, folder in ROOTS.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=dict(ROOTS))
