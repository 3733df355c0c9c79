"""Files a builder reads from beside a weights file (a Hugging Face folder's config.json)
are part of the cell identity: a changed configuration is another experiment."""

from __future__ import annotations

from pathlib import Path

from bench.host.manager import PluginHost
from bench.weights.initial import resolve_weights


def _spec():
    host = PluginHost()
    host.load_default_plugins()
    return host.registries.models.get("hubert-ecg")


def test_a_sidecar_beside_the_weights_joins_their_identity(tmp_path: Path) -> None:
    spec = _spec()
    assert spec.weights_sidecars == ("config.json",)
    weights = tmp_path / "legacy.pt"
    weights.write_bytes(b"weights")
    alone = resolve_weights(spec, str(weights), "quick", 0)
    assert "sidecars" not in alone.identity  # identities without sidecars are unchanged
    config = tmp_path / "config.json"
    config.write_text('{"hidden_size": 768}')
    first = resolve_weights(spec, str(weights), "quick", 0)
    assert set(first.identity["sidecars"]) == {"config.json"}
    assert first.sha256 == alone.sha256  # the weights' own hash is the same
    config.write_text('{"hidden_size": 512}')
    second = resolve_weights(spec, str(weights), "quick", 0)
    assert second.identity["sidecars"] != first.identity["sidecars"]


def test_models_without_sidecars_ignore_files_beside_their_weights(tmp_path: Path) -> None:
    host = PluginHost()
    host.load_default_plugins()
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    (tmp_path / "config.json").write_text("{}")
    resolved = resolve_weights(host.registries.models.get("ecg-fm"), str(weights), "quick", 0)
    assert "sidecars" not in resolved.identity
