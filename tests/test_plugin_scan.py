"""The cheap entry-point pre-check (lazyvol.formats.plugin_scan) never hides a plugin that
importlib.metadata would find: its answer is compared with importlib.metadata's on real
distribution directories placed on sys.path."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from lazyvol.formats import ENTRY_POINT_GROUP, registry
from lazyvol.formats.plugin_scan import group_may_be_declared

GROUP = "lazyvol_test_scan.readers"  # a group nothing installed declares


def _declared(group: str) -> bool:
    return bool(list(importlib.metadata.entry_points(group=group)))


def _dist(site: Path, dirname: str, group: str | None, info: str = "METADATA") -> None:
    d = site / dirname
    d.mkdir(parents=True)
    (d / info).write_text("Metadata-Version: 2.1\nName: scanplug\nVersion: 1.0\n")
    if group is not None:
        (d / "entry_points.txt").write_text(f"[{group}]\nx = scanplug_mod:Reader\n")


def test_environment_without_the_group_answers_no():
    assert not _declared(GROUP)
    assert group_may_be_declared(GROUP) is False
    # the real group: whatever importlib.metadata says, the pre-check never says no when it says yes
    assert group_may_be_declared(ENTRY_POINT_GROUP) or not _declared(ENTRY_POINT_GROUP)


@pytest.mark.parametrize(
    ("dirname", "info"),
    [
        ("scanplug-1.0.dist-info", "METADATA"),
        ("ScanPlug-1.0.DIST-INFO", "METADATA"),
        ("scanplug-1.0-py3.11.egg-info", "PKG-INFO"),
    ],
)
def test_a_declared_group_is_seen_like_importlib_metadata(tmp_path, monkeypatch, dirname, info):
    site = tmp_path / "site"
    _dist(site, dirname, GROUP, info)
    _dist(site, "other-2.0.dist-info", "console_scripts")  # another group: irrelevant
    monkeypatch.syspath_prepend(str(site))
    assert _declared(GROUP)  # the reference agrees a plugin is there
    assert group_may_be_declared(GROUP) is True


def test_egg_directory_on_the_path(tmp_path, monkeypatch):
    egg = tmp_path / "scanplug-1.0-py3.11.egg"
    _dist(egg, "EGG-INFO", GROUP, "PKG-INFO")
    monkeypatch.syspath_prepend(str(egg))
    assert _declared(GROUP)
    assert group_may_be_declared(GROUP) is True


def test_other_groups_and_egg_info_files_are_not_mistaken(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _dist(site, "other-2.0.dist-info", "console_scripts")
    site.joinpath("legacy-1.0.egg-info").write_text("Metadata-Version: 1.0\nName: legacy\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(tmp_path / "missing"))
    assert not _declared(GROUP)
    assert group_may_be_declared(GROUP) is False


def test_zip_on_the_path_falls_back_to_importlib_metadata(tmp_path, monkeypatch):
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("scanplug-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: scanplug\n")
        z.writestr("scanplug-1.0.dist-info/entry_points.txt", f"[{GROUP}]\nx = m:R\n")
    monkeypatch.syspath_prepend(str(archive))
    assert _declared(GROUP)
    assert group_may_be_declared(GROUP) is True  # cannot tell cheaply: ask importlib.metadata


def test_another_distribution_finder_falls_back(monkeypatch):
    class Finder:
        @staticmethod
        def find_spec(*args, **kwargs):
            return None

        @staticmethod
        def find_distributions(context=None):
            return iter(())

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder()])
    assert group_may_be_declared(GROUP) is True


def test_registry_skips_importlib_metadata_when_nothing_declares_the_group(monkeypatch):
    calls = []
    monkeypatch.setattr(registry, "group_may_be_declared", lambda group: calls.append(group))
    assert registry._entry_points() == []
    assert calls == [ENTRY_POINT_GROUP]


def test_fresh_process_finds_an_installed_plugin_and_skips_metadata_without_one(tmp_path):
    """End to end in fresh interpreters: with a dist-info declaring the group, the reader is
    found (as importlib.metadata finds it); without, opening needs no importlib.metadata."""
    site = tmp_path / "site"
    _dist(site, "lazyvol_scanplug-1.0.dist-info", None)
    (site / "lazyvol_scanplug-1.0.dist-info" / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nscanplug = lazyvol_scanplug:Plug\n"
    )
    (site / "lazyvol_scanplug.py").write_text(
        textwrap.dedent(
            """
            class Plug:
                name = "scanplug"
                def can_open(self, source):
                    return source.name.endswith(".plug")
                def open(self, source, **options):
                    raise NotImplementedError
                def source_files(self, source, **options):
                    return [source.url]
                def describe(self, source):
                    return {"format": "scanplug"}
            """
        )
    )
    script = textwrap.dedent(
        """
        import sys
        if len(sys.argv) > 1:
            sys.path.insert(0, sys.argv[1])
        from lazyvol.formats import registry
        names = [r.name for r in registry.readers()]
        print("scanplug" in names, "importlib.metadata" in sys.modules)
        """
    )
    with_plugin = subprocess.run(
        [sys.executable, "-c", script, str(site)], capture_output=True, text=True, check=True
    ).stdout.split()
    without = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert with_plugin == ["True", "True"]
    if not _declared(ENTRY_POINT_GROUP):
        assert without == ["False", "False"]


def test_the_importlib_metadata_backport_finder_searches_the_same_places(tmp_path, monkeypatch):
    backport = pytest.importorskip("importlib_metadata")
    assert any(type(f).__module__ == "importlib_metadata" for f in sys.meta_path)
    assert not list(backport.entry_points(group=GROUP))
    assert group_may_be_declared(GROUP) is False
    site = tmp_path / "site"
    _dist(site, "scanplug-1.0.dist-info", GROUP)
    monkeypatch.syspath_prepend(str(site))
    assert list(backport.entry_points(group=GROUP))
    assert group_may_be_declared(GROUP) is True
