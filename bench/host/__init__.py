"""The plugin host: the specs plugins register, the hook specifications, the registries
built from them, and lazy ``"module:attribute"`` references."""
