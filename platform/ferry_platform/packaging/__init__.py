"""Packaging capability: turn an exact model version into an immutable Bento (a release)."""

from ferry_platform.packaging._bento import BentoPackager, release_id_for
from ferry_platform.packaging._interface import Packager

__all__ = ["BentoPackager", "Packager", "release_id_for"]
