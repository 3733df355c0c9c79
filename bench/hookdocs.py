"""Render the hook reference (docs/plugins.md) from the hookspec docstrings.

``python -m bench.hookdocs > docs/plugins.md``; a test keeps the file in sync.
"""

from __future__ import annotations

import inspect

from bench import hookspecs

INTRO = """# Writing plugins

ECG Bench is extended through [pluggy](https://pluggy.readthedocs.io) hooks. A plugin is a
module with functions decorated by `bench.hookimpl`; a third-party package exposes it in
the `bench` entry-point group:

```toml
[project.entry-points.bench]
my_plugin = "my_package.bench_plugin"
```

```python
from bench import hookimpl
from bench.specs import BuiltModel, ModelSpec


@hookimpl
def bench_register_models(register):
    register(ModelSpec(name="my-model", build=build_my_model, input_kind="image"))
```

`bench plugins` lists what loaded; `BENCH_LOAD_PLUGINS=bench.plugins.metrics,my_plugin`
restricts loading to the named plugins. A plugin that fails to import, implements a
misspelled hook, or raises while registering is reported by name on every command and the
others keep working. A complete installable example lives in
`examples/bench-example-plugin/` (a signal-based model, the shape of ECG-FM).

## Hook reference

(Generated from `bench/hookspecs.py` by `python -m bench.hookdocs`.)
"""


def hook_names() -> list[str]:
    """Names of all hook specifications, in definition order."""
    return [
        name for name, obj in vars(hookspecs).items() if name.startswith("bench_") and callable(obj)
    ]


def render() -> str:
    """The full Markdown document."""
    parts = [INTRO]
    for name in hook_names():
        func = getattr(hookspecs, name)
        signature = f"{name}{inspect.signature(func)}".replace("'", "")
        doc = inspect.cleandoc(func.__doc__ or "")
        parts.append(f"### `{name}`\n\n```python\n{signature}\n```\n\n{doc}\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
