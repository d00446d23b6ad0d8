"""One Settings value, and how it is loaded.

The same keys, read the same way by both front ends: ``[flake8]`` in ``.flake8``/``setup.cfg``/
``tox.ini`` (for the flake8 plugin, flake8 parses it) and ``[tool.flake8-db-session]`` in the
``pyproject.toml`` of the configuration's directory; pyproject wins key by key, command-line
flags win over both. Lists are comma-separated in ini files and arrays in TOML. Adding a key is
one entry in ``OPTIONS`` (and its help text in the plugin).
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Iterable, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib


class ConfigError(Exception):
    """Bad configuration: reported as one line, exit code 2."""


class UnreadableConfigError(ConfigError):
    """A configuration file that cannot be read or parsed at all (it may be broken in another
    tool's section). The standalone command stops (exit 2); the flake8 plugin warns once and goes
    on with flake8's options, as flake8 itself does with a config file it cannot parse."""


DEFAULT_DEPENDENCIES = ("get_db", "get_session", "get_db_session", "get_async_db")
DEFAULT_SCOPES = ("fresh_db_session", "SessionLocal", "Session", "AsyncSession")
DEFAULT_BASELINE = ".db-session-baseline.json"
DEFAULT_RATCHET_CODES = ("DBS001", "DBS002")
DEFAULT_SCOPE_NAME = "fresh_db_session"


@dataclass(frozen=True)
class Settings:
    """Everything the analysis and the adapters are configured with."""

    dependencies: tuple[str, ...] = DEFAULT_DEPENDENCIES
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    # Find session providers, scopes and dependency helpers in the code (docs/discovery.md); the
    # two lists above add to what is found. Off: only the configured names count.
    discover: bool = True
    model_modules: tuple[str, ...] = ()
    detached_sources: tuple[str, ...] = ()
    serializers: tuple[str, ...] = ()
    session_decorators: tuple[str, ...] = ()
    scope_factory: str = ""  # "module:name"; empty = the short scope discovery finds for the provider
    baseline: str = DEFAULT_BASELINE
    ratchet_codes: tuple[str, ...] = DEFAULT_RATCHET_CODES
    ratchet_only: bool = False
    # flake8's own selection keys, honoured by the standalone command.
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    extend_ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    extend_exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Directory the configuration came from; relative paths are resolved against it.
    root: str = "."
    config_files: tuple[str, ...] = field(default=(), compare=False)

    @property
    def scope_name(self) -> str:
        """The short-scope factory named in messages."""
        if self.scope_factory:
            return self.scope_factory.rpartition(":")[2] or DEFAULT_SCOPE_NAME
        return DEFAULT_SCOPE_NAME

    def resolve_path(self, value: str) -> str:
        return value if os.path.isabs(value) else os.path.normpath(os.path.join(self.root, value))

    @property
    def baseline_path(self) -> str:
        return self.resolve_path(self.baseline)


# Key name in config files -> (Settings field, kind). Kinds: list, str, bool, codes, pfi.
OPTIONS: dict[str, tuple[str, str]] = {
    "db-session-dependencies": ("dependencies", "list"),
    "db-session-scopes": ("scopes", "list"),
    "db-session-discover": ("discover", "bool"),
    "db-session-model-modules": ("model_modules", "list"),
    "db-session-detached-sources": ("detached_sources", "list"),
    "db-session-serializers": ("serializers", "list"),
    "db-session-session-decorators": ("session_decorators", "list"),
    "db-session-scope-factory": ("scope_factory", "str"),
    "db-session-baseline": ("baseline", "str"),
    "db-session-ratchet-codes": ("ratchet_codes", "codes"),
    "db-session-ratchet-only": ("ratchet_only", "bool"),
}
FLAKE8_OPTIONS: dict[str, tuple[str, str]] = {
    "select": ("select", "codes"),
    "ignore": ("ignore", "codes"),
    "extend-select": ("extend_select", "codes"),
    "extend-ignore": ("extend_ignore", "codes"),
    "exclude": ("exclude", "list"),
    "extend-exclude": ("extend_exclude", "list"),
    "per-file-ignores": ("per_file_ignores", "pfi"),
}
ALL_OPTIONS = {**OPTIONS, **FLAKE8_OPTIONS}

_SPLIT = re.compile(r"[,\s]")
_CODE = re.compile(r"^[A-Z]{1,3}[0-9]{0,3}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def split_list(value: str) -> tuple[str, ...]:
    """flake8's comma/whitespace-separated list."""
    return tuple(item for item in (part.strip() for part in _SPLIT.split(value)) if item)


def parse_per_file_ignores(value: str, key: str = "per-file-ignores") -> tuple[tuple[str, tuple[str, ...]], ...]:
    """flake8's ``filename: codes`` mapping (several files may share a codes list)."""
    try:
        from flake8.utils import parse_files_to_codes_mapping
    except ImportError:  # pragma: no cover - flake8 is a dependency
        raise ConfigError("per-file-ignores needs flake8 installed") from None
    from flake8.exceptions import ExecutionError

    try:
        pairs = parse_files_to_codes_mapping(value)
    except (ValueError, ExecutionError):
        shown = " ".join(value.split())
        raise ConfigError(f"{key}: expected 'pattern: codes' entries, got {shown!r}") from None
    return tuple((filename, tuple(codes)) for filename, codes in pairs)


def _convert(key: str, kind: str, value: Any) -> Any:
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value.strip()
    if kind == "pfi":
        if isinstance(value, Mapping):  # TOML table {"path" = ["E1"]}
            return tuple(
                (str(path), _convert(f"{key}.{path}", "codes", codes)) for path, codes in value.items()
            )
        if isinstance(value, str):
            return parse_per_file_ignores(value, key)
        raise ConfigError(f"{key}: expected 'path: codes' lines or a table, got {value!r}")
    # list / codes
    if isinstance(value, str):
        items = split_list(value)
    elif isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        items = tuple(item.strip() for item in value if item.strip())
    else:
        raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
    if kind == "codes":
        bad = [item for item in items if not _CODE.match(item)]
        if bad:
            raise ConfigError(f"{key}: not an error code: {', '.join(bad)}")
    return items


def _unknown_key(source: str, raw_key: str, known: Iterable[str]) -> ConfigError:
    return ConfigError(f"{source}: unknown key {raw_key!r} (valid keys: {', '.join(sorted(known))})")


def check_keys(values: Mapping[str, Any], source: str) -> None:
    """Every key of our own table must be one we know (``[tool.flake8-db-session]`` holds
    nothing else, so a typo or a missing ``db-session-`` prefix is an error, not silence)."""
    for raw_key in values:
        if str(raw_key).strip().lower().replace("_", "-") not in ALL_OPTIONS:
            raise _unknown_key(source, str(raw_key), ALL_OPTIONS)


def settings_from_mapping(
    values: Mapping[str, Any], *, root: str = ".", base: Settings | None = None, source: str = "configuration"
) -> Settings:
    """Build Settings from raw key/value pairs (keys with - or _), validating each value."""
    changes: dict[str, Any] = {}
    for raw_key, value in values.items():
        key = raw_key.strip().lower().replace("_", "-")
        if key not in ALL_OPTIONS:
            if key.startswith("db-session-"):
                raise _unknown_key(source, raw_key, OPTIONS)
            continue  # other flake8 keys are flake8's business
        attr, kind = ALL_OPTIONS[key]
        changes[attr] = _convert(f"{source}: {key}", kind, value)
    settings = replace(base or Settings(root=root), root=root, **changes)
    if not settings.discover and not settings.dependencies:
        # Nothing could ever be a session dependency: DBS001/DBS002 would pass silently.
        raise ConfigError(
            f"{source}: db-session-dependencies is empty and db-session-discover is false, so no "
            "session dependency can be found; name one or turn discovery on"
        )
    return settings


# --- reading files -----------------------------------------------------------------------------

INI_FILES = ("setup.cfg", "tox.ini", ".flake8")


def _read_ini(path: str) -> dict[str, str] | None:
    """The ``[flake8]`` section of an ini file, or None. Raises UnreadableConfigError."""
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle, source=path)
    except UnicodeDecodeError:
        raise UnreadableConfigError(f"{path}: cannot parse: not UTF-8 text") from None
    except configparser.Error as exc:
        raise UnreadableConfigError(f"{path}: cannot parse: {_first_line(exc)}") from None
    except OSError as exc:
        raise UnreadableConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not parser.has_section("flake8"):
        return None
    return dict(parser.items("flake8"))


def _read_pyproject(path: str) -> dict[str, Any] | None:
    """The ``[tool.flake8-db-session]`` table, or None. Raises UnreadableConfigError when the file
    cannot be read at all, ConfigError when our table is wrong (not a table, an unknown key)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise UnreadableConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise UnreadableConfigError(f"{path}: cannot parse: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UnreadableConfigError(f"{path}: invalid TOML: {_first_line(exc)}") from None
    tool = document.get("tool", {})
    if not isinstance(tool, dict):
        raise UnreadableConfigError(f"{path}: 'tool' must be a table, got {type(tool).__name__}")
    section = tool.get("flake8-db-session")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.flake8-db-session] must be a table")
    check_keys(section, f"{path}: [tool.flake8-db-session]")
    return section


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__


Warn = Callable[[UnreadableConfigError], None]


def _section_or_warn(read: Callable[[str], Any], path: str, warn: Warn | None) -> Any:
    """``read(path)``; with ``warn``, a file that cannot be read is reported and treated as empty."""
    if warn is None:
        return read(path)
    try:
        return read(path)
    except UnreadableConfigError as exc:
        warn(exc)
        return None


def find_config_dir(start: str, *, warn: Warn | None = None) -> str | None:
    """The nearest directory, from ``start`` upwards, holding our configuration.

    Without ``warn`` a file that cannot be read raises UnreadableConfigError; with it, the file
    is reported through ``warn`` and skipped (flake8 skips an unparseable config file too).
    """
    directory = os.path.abspath(start)
    home = os.path.expanduser("~")
    while True:
        for name in INI_FILES:
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate) and _section_or_warn(_read_ini, candidate, warn) is not None:
                return directory
        pyproject = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(pyproject) and _section_or_warn(_read_pyproject, pyproject, warn) is not None:
            return directory
        parent = os.path.dirname(directory)
        if parent == directory or directory == home:
            return None
        directory = parent


def ini_section(root: str, *, warn: Warn | None = None) -> tuple[str, dict[str, str]] | None:
    """The first ini file in ``root`` with a ``[flake8]`` section (the one flake8 reads), and it."""
    for name in INI_FILES:
        path = os.path.join(root, name)
        if os.path.isfile(path):
            section = _section_or_warn(_read_ini, path, warn)
            if section is not None:
                return path, section
    return None


def pyproject_section(root: str, *, warn: Warn | None = None) -> tuple[str, dict[str, Any]] | None:
    """``root/pyproject.toml`` and its ``[tool.flake8-db-session]`` table, if it has one."""
    path = os.path.join(root, "pyproject.toml")
    if not os.path.isfile(path):
        return None
    section = _section_or_warn(_read_pyproject, path, warn)
    return None if section is None else (path, section)


def load_settings(start: str = ".", *, config_file: str | None = None) -> Settings:
    """Settings for the standalone command: ini ``[flake8]`` first, then pyproject over it."""
    if config_file is not None:
        root = os.path.dirname(os.path.abspath(config_file))
        if config_file.endswith(".toml"):
            section = _read_pyproject(config_file)
        else:
            section = _read_ini(config_file)
        if section is None:
            raise ConfigError(f"{config_file}: no [flake8] or [tool.flake8-db-session] section")
        settings = settings_from_mapping(section, root=root, source=config_file)
        return replace(settings, config_files=(config_file,))

    root = find_config_dir(start)
    if root is None:
        return Settings(root=os.path.abspath(start))
    settings = Settings(root=root)
    used: list[str] = []
    found_ini = ini_section(root)
    if found_ini is not None:
        path, section = found_ini
        settings = settings_from_mapping(section, root=root, base=settings, source=path)
        used.append(path)
    found = pyproject_section(root)
    if found is not None:
        pyproject, section = found
        settings = settings_from_mapping(section, root=root, base=settings, source=pyproject)
        used.append(pyproject)
    return replace(settings, config_files=tuple(used))


def settings_fields() -> Iterable[str]:
    return (f.name for f in fields(Settings))
