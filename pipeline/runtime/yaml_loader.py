"""YAML for configs: PyYAML's safe loader, refusing what it would otherwise accept silently.

A repeated key (a second `stages:`) would replace the first without a word, and that once
dropped an anonymizer; here it is an error at `FILE:LINE`, at every level of the document.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from vpipe.pipeline.api.errors import ConfigError, first_line


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` overrides by design
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if first is not key_node:
                    raise ConfigError(f"{self.name}:{key_node.start_mark.line + 1}: duplicate key {key!r} "
                                      f"(already on line {first.start_mark.line + 1})")
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: Path, text: str) -> tuple[yaml.Node | None, object]:
    """The document's node tree (for line numbers) and its data, from one parse."""
    loader = _UniqueKeyLoader(text)
    loader.name = str(path)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or first_line(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    return root, data
