"""The view vocabulary: fine views, coarse views, the fine-to-coarse map and accepted aliases.

The vocabulary is data (``vocabulary.yaml`` beside this module); this module loads and checks it and
maps any label spelling to a fine view and any (clip kind, view) pair to a coarse view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

DEFAULT_VOCABULARY_PATH = Path(__file__).with_name("vocabulary.yaml")

B_MODE = "b_mode_2d"
DOPPLER_KINDS = ("color_doppler", "spectral_doppler")

_SEPARATORS = re.compile(r"[\s\-/.]+")


class VocabularyError(ValueError):
    """The vocabulary file is missing a section or contains an inconsistent entry."""


class UnknownViewError(ValueError):
    """A view name matches no fine view or alias of the vocabulary."""


@dataclass(frozen=True)
class FineView:
    """One fine view: its name, its coarse class and the acoustic window it is recorded from."""

    name: str
    coarse: str
    window: str


def normalize_name(name: str) -> str:
    """Return ``name`` upper-cased with runs of spaces, hyphens, slashes and dots turned into one '_'."""
    return _SEPARATORS.sub("_", str(name).strip()).upper()


@dataclass(frozen=True)
class Vocabulary:
    """The loaded vocabulary file; construct it with :func:`load_vocabulary`."""

    version: int
    path: Path
    fine: dict[str, FineView]
    coarse: tuple[str, ...]
    doppler_coarse_by_window: dict[str, str]
    clip_kinds: tuple[str, ...]
    aliases: dict[str, str]

    @property
    def fine_names(self) -> tuple[str, ...]:
        """Fine view names in file order."""
        return tuple(self.fine)

    def to_fine(self, name: str, source: str | None = None) -> str:
        """Map a view name or alias to its fine view name, ignoring case and separators.

        Args:
            name: A fine view name or an alias, such as ``"ap4"`` or ``"Apical 4 chamber"``.
            source: Where the name came from (file and row), quoted in the error.

        Raises:
            UnknownViewError: ``name`` is neither a fine view nor an alias.
        """
        key = normalize_name(name)
        by_upper = {fine.upper(): fine for fine in self.fine}
        if key in by_upper:
            return by_upper[key]
        if key in self.aliases:
            return self.aliases[key]
        where = f" in {source}" if source else ""
        raise UnknownViewError(
            f"unknown view {name!r}{where}: expected one of {', '.join(self.fine)} or an alias listed "
            f"in {self.path}; add an alias there if the name is a known view"
        )

    def is_known(self, name: str) -> bool:
        """Return whether ``name`` maps to a fine view."""
        try:
            self.to_fine(name)
        except UnknownViewError:
            return False
        return True

    def coarse_of(self, name: str) -> str:
        """Return the coarse B-mode class of a fine view name or alias."""
        return self.fine[self.to_fine(name)].coarse

    def coarse_for_clip(self, clip_kind: str, view: str | None = None, window: str | None = None) -> str:
        """Return the coarse class of a clip from its kind and, where known, its view or window.

        A 2D B-mode clip takes its view's coarse class. A colour or spectral Doppler clip takes the
        Doppler class of its window (from ``window``, else from the window of ``view``); a clip whose
        window is unknown or has no Doppler class, and an M-mode or other clip, keeps its clip kind.

        Raises:
            VocabularyError: ``clip_kind`` is not one of the vocabulary's clip kinds.
            ValueError: a B-mode clip has no view.
        """
        if clip_kind not in self.clip_kinds:
            raise VocabularyError(
                f"unknown clip kind {clip_kind!r}: expected one of {', '.join(self.clip_kinds)} ({self.path})"
            )
        if clip_kind == B_MODE:
            if view is None:
                raise ValueError("a b_mode_2d clip needs a view to get a coarse class")
            return self.coarse_of(view)
        if clip_kind in DOPPLER_KINDS:
            if window is None and view is not None and self.is_known(view):
                window = self.fine[self.to_fine(view)].window
            if window is not None and window in self.doppler_coarse_by_window:
                return self.doppler_coarse_by_window[window]
        return clip_kind


def _require(data: dict, key: str, path: Path) -> object:
    if key not in data:
        raise VocabularyError(f"{path}: missing section {key!r}")
    return data[key]


def _parse(data: dict, path: Path) -> Vocabulary:
    """Build a :class:`Vocabulary` from the parsed YAML and check that every reference resolves."""
    version = _require(data, "version", path)
    coarse = tuple(_require(data, "coarse", path))
    clip_kinds = tuple(_require(data, "clip_kinds", path))
    if B_MODE not in clip_kinds:
        raise VocabularyError(f"{path}: clip_kinds must contain {B_MODE!r}")

    fine: dict[str, FineView] = {}
    for name, entry in dict(_require(data, "fine", path)).items():
        if entry.get("coarse") not in coarse:
            raise VocabularyError(
                f"{path}: fine view {name!r} maps to unknown coarse view {entry.get('coarse')!r}"
            )
        if not entry.get("window"):
            raise VocabularyError(f"{path}: fine view {name!r} has no window")
        fine[name] = FineView(name=name, coarse=entry["coarse"], window=entry["window"])

    doppler = dict(_require(data, "doppler_coarse_by_window", path))
    windows = {view.window for view in fine.values()}
    for window, target in doppler.items():
        if target not in coarse:
            raise VocabularyError(f"{path}: Doppler window {window!r} maps to unknown coarse view {target!r}")
        if window not in windows:
            raise VocabularyError(f"{path}: Doppler window {window!r} is the window of no fine view")

    aliases: dict[str, str] = {}
    for alias, target in dict(data.get("aliases") or {}).items():
        if target not in fine:
            raise VocabularyError(f"{path}: alias {alias!r} maps to unknown fine view {target!r}")
        aliases[normalize_name(alias)] = target

    return Vocabulary(int(version), path, fine, coarse, doppler, clip_kinds, aliases)


@cache
def _load_cached(path: Path) -> Vocabulary:
    with path.open() as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise VocabularyError(f"{path}: expected a YAML mapping at the top level")
    return _parse(data, path)


def load_vocabulary(path: Path | str | None = None) -> Vocabulary:
    """Load and check a vocabulary file (default: the one shipped beside this module).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        VocabularyError: a section is missing or an entry names an unknown view.
    """
    resolved = Path(path) if path is not None else DEFAULT_VOCABULARY_PATH
    if not resolved.is_file():
        raise FileNotFoundError(f"view vocabulary file not found: {resolved}")
    return _load_cached(resolved.resolve())
