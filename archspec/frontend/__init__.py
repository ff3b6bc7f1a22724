"""Frontends: spec text (YAML or .arch) -> a located syntax tree (archspec.frontend.syntax)."""
