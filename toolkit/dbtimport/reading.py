"""Read a dbt project: dbt_project.yml, its property files (schema.yml), docs blocks.

YAML is read with PyYAML's safe loader; every mapping remembers its line, so a
structural mistake names the file and line like a syntax error does (exit 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from toolkit import docblocks
from toolkit.errors import ProjectError

DBT_PROJECT = "dbt_project.yml"
PROPERTY_KEYS = ("models", "sources", "seeds", "snapshots", "macros", "exposures", "metrics", "semantic_models",
                 "saved_queries", "groups", "unit_tests", "analyses", "data_tests", "tests")
_DOC_CALL = re.compile(r"""{{-?\s*doc\(\s*(['"])(\w+)\1\s*\)\s*-?}}""")


class Map(dict):
    """A YAML mapping that knows the line it starts on."""

    line: int | None = None


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    pass


def _mapping(loader, node):
    loader.flatten_mapping(node)
    mapping = Map()
    for key_node, value_node in node.value:
        mapping[loader.construct_object(key_node, deep=True)] = loader.construct_object(value_node, deep=True)
    mapping.line = node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def line(node: Any) -> int | None:
    return getattr(node, "line", None)


def load_yaml(path: Path, root: Path) -> Any:
    relative = path.relative_to(root).as_posix()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ProjectError("not UTF-8 text", relative, hint="save it as UTF-8") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ProjectError(f"malformed YAML: {problem}", relative, mark.line + 1 if mark else None,
                           col=mark.column + 1 if mark else None) from None


@dataclass
class DbtProject:
    root: Path
    name: str
    config: dict
    paths: dict[str, list[str]]  # model, seed, test, macro, snapshot, analysis, docs -> folders
    packages_dir: str
    properties: list[tuple[str, dict]] = field(default_factory=list)  # (file, parsed property file)
    docs: dict[str, str] = field(default_factory=dict)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def folders(self, kind: str) -> list[Path]:
        return [self.root / p for p in self.paths[kind] if (self.root / p).is_dir()]

    def entries(self, key: str):
        """(file, entry) for every item under `key` (models, sources, ...) of every property file."""
        for file, data in self.properties:
            for entry in data.get(key) or []:
                if not isinstance(entry, dict):
                    raise ProjectError(f"each item of '{key}' must be a mapping (name: ...)", file, line(data))
                yield file, entry

    def describe(self, text: Any, where: str, report) -> str:
        """A description with {{ doc('name') }} replaced by its docs block."""
        if not isinstance(text, str):
            return ""

        def replace(match: re.Match) -> str:
            if match.group(2) in self.docs:
                return self.docs[match.group(2)]
            report.skip("description", f"doc('{match.group(2)}')", where, "no docs block has this name")
            return match.group(0)

        return _DOC_CALL.sub(replace, text).strip()


_DEFAULT_PATHS = {"model": ["models"], "seed": ["seeds"], "test": ["tests"], "macro": ["macros"],
                  "snapshot": ["snapshots"], "analysis": ["analyses"]}
_OLD_NAMES = {"model": "source-paths", "seed": "data-paths"}


def read_project(root: Path) -> DbtProject:
    file = root / DBT_PROJECT
    if not root.is_dir():
        raise ProjectError(f"{root} is not a folder", hint="pass the folder holding dbt_project.yml")
    if not file.is_file():
        raise ProjectError(f"no {DBT_PROJECT} in {root}: not a dbt project", hint="pass the folder holding dbt_project.yml")
    config = load_yaml(file, root)
    if not isinstance(config, dict):
        raise ProjectError(f"{DBT_PROJECT} must be a mapping of settings (name: ..., models: ...)", DBT_PROJECT, 1)
    name = config.get("name")
    if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
        raise ProjectError(f"{DBT_PROJECT}: name must be a project name (letters, digits, _), got {name!r}", DBT_PROJECT,
                           _key_line(file, "name"))
    paths = {}
    for kind, default in _DEFAULT_PATHS.items():
        key = f"{kind}-paths"
        value = config.get(key, config.get(_OLD_NAMES.get(kind, ""), default))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            raise ProjectError(f"{DBT_PROJECT}: {key} must be a list of folders", DBT_PROJECT, _key_line(file, key))
        for folder in value:
            if Path(folder).is_absolute() or ".." in Path(folder).parts:
                raise ProjectError(f"{DBT_PROJECT}: {key} '{folder}' is outside the project", DBT_PROJECT, _key_line(file, key))
        paths[kind] = value
    docs = config.get("docs-paths")
    paths["docs"] = docs if isinstance(docs, list) else sorted({p for k in ("model", "seed", "test", "macro", "snapshot", "analysis") for p in paths[k]})
    packages_dir = config.get("packages-install-path") or config.get("modules-path") or "dbt_packages"
    project = DbtProject(root, name, config, paths, str(packages_dir))
    seen: set[Path] = set()
    for kind in ("model", "seed", "snapshot", "macro", "analysis", "test"):
        for folder in project.folders(kind):
            for path in sorted([*folder.rglob("*.yml"), *folder.rglob("*.yaml")]):
                if path in seen or not path.is_file():
                    continue
                seen.add(path)
                data = load_yaml(path, root)
                if data is None:
                    continue
                relative = project.relative(path)
                if not isinstance(data, dict):
                    raise ProjectError("a property file must be a mapping (version: 2, models: [...])", relative, 1)
                for key in PROPERTY_KEYS:
                    if key in data and data[key] is not None and not isinstance(data[key], list):
                        raise ProjectError(f"'{key}' must be a list of mappings (- name: ...)", relative, _text_line(path, f"{key}:"))
                project.properties.append((relative, data))
    for folder in [root / p for p in paths["docs"] if (root / p).is_dir()]:
        for path in sorted(folder.rglob("*.md")):
            text = path.read_text(encoding="utf-8", errors="replace")
            for block in docblocks.parse(text, path.relative_to(root).as_posix()):
                project.docs[block.name] = block.text
    return project


def _key_line(file: Path, key: str) -> int | None:
    return _text_line(file, f"{key}:")


def _text_line(file: Path, needle: str) -> int | None:
    for number, text in enumerate(file.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if text.lstrip().startswith(needle):
            return number
    return None
