"""lazyvol.formats: the Reader protocol and the registry (toy readers, real entry-point discovery)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lazyvol as lv
from lazyvol.formats import ENTRY_POINT_GROUP, Location, Reader, registry


class ToyReader:
    """The smallest reader: ``.toy`` files hold a 2x2x2 uint8 cube of their first byte.

    Readers receive a :class:`lazyvol.formats.Location`: ``name`` for the suffix, path-like for a
    local file."""

    name = "toy"

    def can_open(self, source: Location) -> bool:
        return source.name.endswith(".toy")

    def open(self, source: Location, **options: Any) -> lv.Volume:
        with open(source, "rb") as f:
            value = f.read(1)[0]
        return lv.Volume(np.full((2, 2, 2), value, dtype=np.uint8), source=str(source))

    def source_files(self, source: Location, **options: Any) -> list[str]:
        return [str(Path(source).resolve())]

    def describe(self, source: Location) -> dict[str, Any]:
        return {"format": "toy", "shape": [2, 2, 2]}


class Anything(ToyReader):
    """A catch-all reader, like DICOM's (reads files without a preamble too)."""

    name = "anything"
    priority = 90

    def can_open(self, source: Location) -> bool:
        return True


class StringOnly(ToyReader):
    """A reader written for plain-string sources (before readers received a Location)."""

    name = "stringonly"

    def can_open(self, source: Any) -> bool:
        return bool(source.endswith(".toy"))


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch):
    """Every test starts from an empty table with no installed plugins, and leaves none behind."""
    state = registry._snapshot()
    registry._reset()
    monkeypatch.setattr(registry, "_entry_points", lambda: [])
    monkeypatch.setattr(registry, "BUILTIN", ())
    yield
    registry._restore(state)


def test_toy_reader_satisfies_the_protocol():
    assert isinstance(ToyReader(), Reader)
    assert not isinstance(object(), Reader)


def test_register_pick_and_open(tmp_path):
    toy = registry.register(ToyReader)  # a class is instantiated
    assert isinstance(toy, ToyReader) and registry.get("toy") is toy
    path = tmp_path / "a.toy"
    path.write_bytes(b"\x07rest")
    reader = registry.pick(str(path))
    assert reader is toy
    vol = reader.open(str(path))
    np.testing.assert_array_equal(vol.compute(), np.full((2, 2, 2), 7, dtype=np.uint8))
    assert reader.source_files(str(path)) == [str(path.resolve())]


def test_pick_order_priority_then_registration():
    catch_all = registry.register(Anything())  # priority 90 from the class attribute
    toy = registry.register(ToyReader())  # default priority 50: asked first
    assert registry.readers() == [toy, catch_all]
    assert registry.pick("x.toy") is toy
    assert registry.pick("x.nii") is catch_all
    # An explicit priority overrides the reader's own.
    registry.unregister("toy")
    registry.register(ToyReader(), priority=95)
    assert registry.pick("x.toy") is catch_all


def test_readers_receive_a_location(tmp_path):
    """pick() and open() hand every reader a Location: local ones are path-like, URLs carry their
    storage options (and a URL is never sniffed through the local file system)."""
    seen: list[Location] = []

    class Recorder(ToyReader):
        name = "recorder"

        def can_open(self, source: Location) -> bool:
            seen.append(source)
            return source.name.endswith(".toy")

    registry.register(Recorder())
    path = tmp_path / "c.toy"
    path.write_bytes(b"\x09")
    np.testing.assert_array_equal(lv.open(path).compute(), np.full((2, 2, 2), 9, np.uint8))
    assert isinstance(seen[-1], Location) and not seen[-1].is_remote
    assert seen[-1].url == str(path) and Path(seen[-1]) == path
    url = "s3://bucket/folder/x.toy?versionId=3"
    assert registry.pick(Location.of(url, {"anon": True})).name == "recorder"
    assert seen[-1].is_remote and seen[-1].name == "x.toy" and seen[-1].options["anon"] is True
    with pytest.raises(TypeError, match="is a URL, not a local path"):
        open(seen[-1], "rb")


def test_a_string_only_reader_works_for_paths_through_an_adapter(tmp_path):
    """A reader written for plain-string sources keeps working for local paths (with a
    DeprecationWarning), and is skipped with a RuntimeWarning for a URL it cannot take."""
    registry.register(StringOnly())
    registry.register(Anything())
    path = tmp_path / "a.toy"
    path.write_bytes(b"\x04")
    with pytest.warns(DeprecationWarning, match=r"'stringonly' takes plain-string sources"):
        reader = registry.pick(str(path))
    assert isinstance(reader, registry.StrSourceReader) and reader.name == "stringonly"
    np.testing.assert_array_equal(reader.open(path).compute(), np.full((2, 2, 2), 4, np.uint8))
    with pytest.warns(DeprecationWarning):
        vol = lv.open(path)
    np.testing.assert_array_equal(vol.compute(), np.full((2, 2, 2), 4, np.uint8))
    with pytest.warns(RuntimeWarning, match=r"'stringonly' failed in can_open.*Location"):
        assert registry.pick("https://example.org/a.toy").name == "anything"


def test_pick_nothing_raises_formaterror_naming_readers():
    registry.register(ToyReader())
    with pytest.raises(lv.FormatError, match=r"x\.mgh: no reader recognises.*asked: toy") as ei:
        registry.pick("x.mgh")
    assert ENTRY_POINT_GROUP in str(ei.value) and isinstance(ei.value, ValueError)


def test_duplicate_names_and_bad_readers():
    registry.register(ToyReader())
    with pytest.raises(ValueError, match="already registered"):
        registry.register(ToyReader())
    replacement = registry.register(ToyReader(), replace=True)
    assert registry.get("toy") is replacement
    with pytest.raises(TypeError, match="missing can_open, open, source_files, describe"):
        registry.register(type("NoMethods", (), {"name": "bad"}))
    nameless = type("Nameless", (ToyReader,), {"name": ""})
    with pytest.raises(TypeError, match="non-empty str"):
        registry.register(nameless)
    with pytest.raises(KeyError, match=r"no reader named 'nope'.*toy"):
        registry.get("nope")
    assert registry.unregister("toy") is replacement
    with pytest.raises(KeyError):
        registry.unregister("toy")


def _entry_point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def test_entry_points_load_lazily_once(monkeypatch):
    calls: list[int] = []

    def fake_entry_points():
        calls.append(1)
        return [_entry_point("toy", f"{__name__}:ToyReader")]

    monkeypatch.setattr(registry, "_entry_points", fake_entry_points)
    assert calls == []  # nothing loaded at import or at reset
    assert registry.pick("a.toy").name == "toy"
    registry.readers()
    registry.get("toy")
    assert calls == [1]
    assert registry.READERS["toy"].origin == f"entry point toy = {__name__}:ToyReader"


def test_broken_or_clashing_entry_points_are_skipped_with_a_warning(monkeypatch):
    eps = [
        _entry_point("a_missing", "lazyvol_no_such_module_xyz:Reader"),
        _entry_point("b_notareader", "builtins:dict"),
        _entry_point("c_toy", f"{__name__}:ToyReader"),
        _entry_point("d_toy_again", f"{__name__}:ToyReader"),
    ]
    monkeypatch.setattr(registry, "_entry_points", lambda: eps)
    with pytest.warns(RuntimeWarning) as rec:
        names = [r.name for r in registry.readers()]
    assert names == ["toy"]
    messages = " | ".join(str(w.message) for w in rec)
    assert "a_missing" in messages and "ModuleNotFoundError" in messages
    assert "b_notareader" in messages and "not a lazyvol reader" in messages
    assert "d_toy_again" in messages and "already taken by entry point c_toy" in messages


def test_real_distribution_discovered_through_entry_points(tmp_path):
    """A plugin installed as a distribution (dist-info on sys.path) is found and used, end to end,
    in a fresh interpreter (so nothing of this process's registry is reused)."""
    site = tmp_path / "site"
    (site / "lazyvol_toyplugin-1.0.dist-info").mkdir(parents=True)
    (site / "lazyvol_toyplugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lazyvol-toyplugin\nVersion: 1.0\n"
    )
    (site / "lazyvol_toyplugin-1.0.dist-info" / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nfortytwo = lazyvol_toyplugin:FortyTwo\n"
    )
    (site / "lazyvol_toyplugin.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            import lazyvol as lv

            class FortyTwo:
                name = "fortytwo"

                def can_open(self, source):
                    return source.name.endswith(".42")

                def open(self, source, **options):
                    return lv.Volume(np.full((3, 1, 1), 42, dtype="int16"), source=source)

                def source_files(self, source, **options):
                    return [source.url]

                def describe(self, source):
                    return {"format": "fortytwo"}
            """
        )
    )
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(site)!r})
        from lazyvol.formats import registry
        assert "fortytwo" not in registry.READERS  # lazily: not loaded at import
        reader = registry.pick("x.42")
        print(reader.name, registry.READERS["fortytwo"].origin)
        print(reader.open("x.42").compute().ravel().tolist())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout.splitlines()
    assert out[0] == (
        "fortytwo entry point fortytwo = lazyvol_toyplugin:FortyTwo (lazyvol-toyplugin 1.0)"
    )
    assert out[1] == "[42, 42, 42]"


def test_concurrent_first_use_loads_entry_points_once(monkeypatch):
    import threading
    import time

    calls: list[int] = []

    def slow_entry_points():
        calls.append(1)
        time.sleep(0.05)  # widen the window in which other threads ask for readers
        return [_entry_point("toy", f"{__name__}:ToyReader")]

    monkeypatch.setattr(registry, "_entry_points", slow_entry_points)
    picked: list[str] = []
    threads = [
        threading.Thread(target=lambda: picked.append(registry.pick("a.toy").name))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and picked == ["toy"] * 8


def test_builtin_readers_pick_each_format(tmp_path, monkeypatch):
    """With the built-in table, lazyvol.open's dispatch picks each format by its content, and a
    third-party reader asked before the DICOM catch-all gets its files."""
    from lazyvol.testing import write_dicom_series, write_phantom_nifti

    monkeypatch.setattr(registry, "BUILTIN", registry.__dict__["_BUILTIN_DEFAULT"])
    nii = write_phantom_nifti(tmp_path / "a.nii.gz", (4, 4, 3))
    renamed = tmp_path / "notes.txt"
    renamed.write_bytes(b"not an image")
    plain = write_phantom_nifti(tmp_path / "plain.nii", (4, 4, 3))
    (tmp_path / "magic_only").write_bytes(Path(plain).read_bytes())  # NIfTI known by its magic
    dcm = tmp_path / "series"
    write_dicom_series(dcm, (4, 4, 3))
    store = lv.open(nii).to_zarr(tmp_path / "a.zarr")
    assert registry.pick(str(nii)).name == "nifti"
    assert registry.pick(str(tmp_path / "magic_only")).name == "nifti"
    assert registry.pick(str(dcm)).name == "dicom"
    assert registry.pick(str(store)).name == "zarr"
    assert registry.pick(str(renamed)).name == "dicom"  # the catch-all: refuses non-DICOM itself
    with pytest.raises(lv.FormatError):
        lv.open(renamed)
    np.testing.assert_array_equal(lv.open(store).compute(), lv.open(nii).compute())
    registry.register(ToyReader())
    toy = tmp_path / "b.toy"
    toy.write_bytes(b"\x05")
    assert registry.pick(str(toy)).name == "toy"
    np.testing.assert_array_equal(lv.open(toy).compute(), np.full((2, 2, 2), 5, np.uint8))
