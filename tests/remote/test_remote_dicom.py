"""DICOM series in a bucket (moto's S3 server on loopback): scan, open, staleness, codecs, refs.

Each series is uploaded under a prefix as the NCI Imaging Data Commons lays it out
(``s3://bucket/<series uid>/<instance uid>.dcm``) and compared with the local open of the same
files, with the synthetic truth, and with pydicom.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pydicom
import pytest
from remote_servers import S3, S3_KEY, S3_SECRET, free_port, listing_ms_proxy, serving

import lazyvol as lv
from lazyvol import _io
from lazyvol.dicom import open_dicom
from lazyvol.dicom.saved_scan import read_json_checked
from lazyvol.errors import FormatError, SourceChangedError
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "dicom-real"
REAL_SERIES = REAL / "dcm_qa_nih" / "In" / "20180918GE" / "mr_0004"


def _upload(s3: S3, bucket: str, files: list[str], prefix: str) -> str:
    for n, f in enumerate(sorted(files)):
        key = f"{prefix}/{n:05d}-{os.path.basename(f)}"
        s3.client.put_object(Bucket=bucket, Key=key, Body=Path(f).read_bytes())
    return f"s3://{bucket}/{prefix}/"


def _pydicom_volume(files: list[str]) -> np.ndarray:
    """(i, j, k) stored values sorted along the slice normal, from pydicom alone."""
    dss = [pydicom.dcmread(f) for f in files]
    normal = np.cross(*np.reshape(np.asarray(dss[0].ImageOrientationPatient, float), (2, 3)))
    dss.sort(key=lambda d: float(np.dot(normal, np.asarray(d.ImagePositionPatient, float))))
    return np.stack([d.pixel_array.T for d in dss], axis=-1)


@pytest.fixture
def synthetic(tmp_path: Path, s3_server: S3, s3_bucket: str):
    truth = write_dicom_series(
        tmp_path / "s", (24, 20, 9), dtype="int16", orientation="oblique", slope=2.0, intercept=-5
    )
    url = _upload(s3_server, s3_bucket, truth.files, "1.2.826.0.1.3680043.8.498.1")
    return truth, url


class _Quiet(http.server.SimpleHTTPRequestHandler):
    """Python's file server without its request log. A subclass's ``index_links`` (the links of a
    folder's index page, as a server in the wild writes them) replaces the standard page."""

    def log_message(self, *args: object) -> None:
        pass

    def index_links(self, path: str) -> list[str] | None:
        return None

    def list_directory(self, path: str) -> io.BytesIO | None:
        links = self.index_links(path)
        if links is None:
            return super().list_directory(path)
        body = ("<html><body>" + "<br>".join(links) + "</body></html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


def _entry_links(path: str) -> list[str]:
    """A link per entry of folder ``path``, folders ending in ``/``."""
    out = []
    for n in sorted(os.listdir(path)):
        slash = "/" if os.path.isdir(os.path.join(path, n)) else ""
        out.append(f'<a href="{n}{slash}">{n}{slash}</a>')
    return out


#: Apache's column-sort links, on every index page it writes.
_SORT_LINKS = ['<a href="?C=N;O=D">Name</a>', '<a href="?C=M;O=A">Modified</a>']


@contextlib.contextmanager
def _web_folder(root: Path, handler: type[_Quiet] = _Quiet) -> Iterator[str]:
    """``root`` served on 127.0.0.1 by ``handler``: the server's base URL."""
    port = free_port()
    try:
        with serving(functools.partial(handler, directory=str(root)), port):  # type: ignore[arg-type]
            yield f"http://127.0.0.1:{port}"
    finally:
        _io.clear_filesystems()


def test_lazyvol_info_of_a_web_folder_lists_its_series_and_sizes(tmp_path: Path, capsys):
    """``lazyvol info http://host/folder/`` stamped the folder's index page as the one object:
    a folder of two series failed with "holds 2 volumes; choose one" (a local folder and an S3
    prefix print the series table), one series was sized 0 bytes, and the page's missing
    validators were warned of. A URL ending in "/" names a folder, as the readers take it."""
    import warnings

    from lazyvol.cli import main

    one = write_dicom_series(tmp_path / "www" / "multi" / "a", (16, 12, 5), series_number=1)
    write_dicom_series(tmp_path / "www" / "multi" / "b", (16, 12, 4), series_number=2, seed=3)
    local = sum(os.path.getsize(f) for f in one.files)
    with _web_folder(tmp_path / "www") as base, warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["info", f"{base}/multi/", "-q"]) == 0
        assert "2 volume(s)" in capsys.readouterr().out
        assert main(["info", f"{base}/multi/a/", "--json", "-q"]) == 0
        out = capsys.readouterr()
    assert json.loads(out.out)["size_on_disk"] == local
    assert "ETag" not in out.err


def test_a_series_folder_behind_an_http_index_page_opens(tmp_path: Path):
    """A series folder served by a plain web server (Python's http.server: an HTML index page
    without sizes, Range ignored): each listed file is stamped with a HEAD. It failed naming the
    first file's 'missing Content-Length' (the server sends it; the listing has no sizes), and the
    NIfTI sniff stamped the index page itself, warning that it has no validators. The page's
    column-sort links (Apache's ``?C=N;O=D``) are no objects, and a listed file the server does not
    serve (a dangling link on its disk: 404) is a skipped entry, not a failed folder."""
    import warnings

    truth = write_dicom_series(tmp_path / "www" / "series", (16, 12, 5), seed=3)
    (tmp_path / "www" / "series" / "zz_dangling.dcm").symlink_to(tmp_path / "nowhere")

    class Listing(_Quiet):
        def index_links(self, path: str) -> list[str] | None:
            return _SORT_LINKS + _entry_links(path)

    with _web_folder(tmp_path / "www", Listing) as base:
        url = f"{base}/series/"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            vol = lv.open(url)
            np.testing.assert_array_equal(vol.compute(), truth.stored)
            skipped = lv.scan(url).skipped
        assert len(vol.meta["files"]) == 5
        assert [(os.path.basename(p), why.split(":")[0]) for p, why in skipped] == [
            ("zz_dangling.dcm", "listed on the folder's index page but not served")
        ]


def test_a_web_folder_url_with_a_token_query_is_read_as_the_folder(tmp_path: Path):
    """``https://host/series/?token=abc`` (a share link whose server wants the token on every
    request) was read as one object, its index page ("no DICOM image volume found ... an HTML
    page"): fsspec joined each relative link of the page to the whole URL
    (``.../series/?token=abc/IM0.dcm``, the link inside the query), so no link was an entry of
    the folder. Links are now resolved against the page and carry its query; the page's sort
    links and a hidden file stay out, a subfolder is listed with the token too."""
    truth = write_dicom_series(tmp_path / "www" / "series" / "sub", (16, 12, 5), seed=5)
    (tmp_path / "www" / "series" / ".hidden.dcm").write_bytes(Path(truth.files[0]).read_bytes())
    asked: list[str] = []

    class Token(_Quiet):
        def index_links(self, path: str) -> list[str] | None:
            return _SORT_LINKS + _entry_links(path)

        def send_head(self):  # type: ignore[no-untyped-def]
            asked.append(self.path)
            if not self.path.endswith("?token=abc"):
                self.send_error(403)
                return None
            return super().send_head()

    with _web_folder(tmp_path / "www", Token) as base:
        vol = lv.open(f"{base}/series/?token=abc")
        np.testing.assert_array_equal(vol.compute(), truth.stored)
        skipped = lv.scan(f"{base}/series/?token=abc").skipped
    files = sorted(os.path.basename(urlsplit(f).path) for f in vol.meta["files"])
    assert files == sorted(os.path.basename(f) for f in truth.files)
    assert [urlsplit(p).path for p, _ in skipped] == ["/series/.hidden.dcm"], skipped
    assert not [p for p in asked if "C=" in p], asked


def test_headers_of_a_remote_series_say_they_are_not_read_remotely(tmp_path: Path):
    """vol.dicom_header / vol.header of a series opened over HTTP: a HeaderError saying remote
    headers are not read (docs/supported.md) and to open a local copy; it said the source was
    'gone' while the server served every file."""
    from lazyvol.headers import HeaderError

    write_dicom_series(tmp_path / "www" / "series", (8, 8, 3), seed=3)
    with _web_folder(tmp_path / "www") as base:
        vol = lv.open(f"{base}/series/")
        for call in (lambda: vol.dicom_header(0), lambda: vol.header):
            with pytest.raises(HeaderError, match=r"remote source.*local copy"):
                call()


def test_references_to_a_series_folder_behind_an_http_index_page(tmp_path: Path, hostile_server):
    """``lazyvol.references`` of a web folder stamped the folder's index page (to tell an object
    from a prefix) and warned that it has no ETag or Last-Modified time, though every file it
    references has both; ``lazyvol.open`` of the same URL did not. (A server that honours Range:
    Python's file server does not, and references to it are refused, as
    test_references_hostile's test of such a server checks.)"""
    import warnings

    import fsspec
    import zarr

    truth = write_dicom_series(tmp_path / "www" / "series", (16, 12, 5), seed=4)
    hostile_server.index_pages = True  # (a page with neither ETag nor Last-Modified)
    for f in truth.files:
        hostile_server.put(f"series/{Path(f).name}", Path(f).read_bytes())
    base = hostile_server.url
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refs = lv.references(f"{base}/series/")
    local = json.loads(json.dumps(refs).replace(f"{base}/", f"{tmp_path / 'www'}/"))
    store = fsspec.filesystem("reference", fo=local).get_mapper("")
    got = zarr.open_group(store, mode="r", zarr_format=2)["image"][...]  # (k, j, i)
    np.testing.assert_array_equal(got.transpose(2, 1, 0), truth.stored)


def test_a_folder_page_whose_files_are_refused_is_an_access_error(tmp_path: Path):
    """Every file an index page lists answers 403: that is the credentials' problem, said as
    RemoteAccessError, not files passed over (nor the index page read as the one object)."""
    from lazyvol.errors import RemoteAccessError

    write_dicom_series(tmp_path / "www" / "series", (8, 6, 3), seed=1)

    class Refusing(_Quiet):
        def send_head(self):  # type: ignore[no-untyped-def]
            if self.path.endswith(".dcm"):
                self.send_error(403)
                return None
            return super().send_head()

    with _web_folder(tmp_path / "www", Refusing) as base:
        with pytest.raises(RemoteAccessError, match=r"IM0000\d\.dcm: access denied"):
            lv.open(f"{base}/series/")


def test_subfolders_a_web_folder_cannot_list_are_skipped_and_other_hosts_are_no_entries(
    tmp_path: Path,
):
    """A series folder's index page linking a subfolder the server answers 404 (``old/``: a
    dangling link) failed the whole scan, lv.open and ``lazyvol info`` with "no such object"
    naming the folder; a subfolder answering 403 (no index page allowed) made the folder a
    RemoteAccessError; an ``https://`` link to one of the folder's own files, on a page served
    over ``http://``, was taken as another object. The subfolders are skipped with their reason;
    links to another scheme are no entries (the same file linked absolutely on the same origin
    is the one entry)."""
    from lazyvol.cli import main

    truth = write_dicom_series(tmp_path / "www" / "series", (16, 12, 5), seed=3)
    write_dicom_series(tmp_path / "www" / "series" / "private", (8, 6, 3), seed=4)
    first = os.path.basename(truth.files[0])

    class Listing(_Quiet):
        def index_links(self, path: str) -> list[str] | None:
            here = f"127.0.0.1:{self.server.server_address[1]}/series/{first}"
            return [
                *_entry_links(path),
                '<a href="old/">old/</a>',
                f'<a href="https://{here}">secure copy</a>',
                f'<a href="http://{here}">the same file</a>',
            ]

        def send_head(self):  # type: ignore[no-untyped-def]
            if self.path.startswith("/series/private"):
                self.send_error(403)
                return None
            return super().send_head()

    with _web_folder(tmp_path / "www", Listing) as base:
        url = f"{base}/series/"
        report = lv.scan(url, use_index=False)
        vol = lv.open(url, scale=False)
        np.testing.assert_array_equal(vol.compute(), truth.stored)
        assert main(["info", url, "--json", "-q"]) == 0
    assert [len(s.files) for s in report] == [len(truth.files)]
    assert sorted(os.path.basename(f) for f in vol.meta["files"]) == sorted(
        os.path.basename(f) for f in truth.files
    )
    assert all(f.startswith(base) for f in vol.meta["files"])
    reasons = {p[len(url) :]: why for p, why in report.skipped}
    assert sorted(reasons) == ["old/", "private/"]
    assert "not served (no such folder" in reasons["old/"]
    assert "refuses to list it (access denied" in reasons["private/"]


def test_a_rate_limited_web_folder_is_asked_again(tmp_path: Path):
    """429/503 on the index page and on the HEAD stamping each file were not retried (only the
    ranged GETs were), so one burst failed lv.scan of a web folder."""
    import threading

    truth = write_dicom_series(tmp_path / "www" / "series", (16, 12, 4), seed=5)
    seen: dict[str, int] = {}
    lock = threading.Lock()

    class Limited(_Quiet):
        def send_head(self):  # type: ignore[no-untyped-def]
            with lock:
                seen[self.path] = n = seen.get(self.path, 0) + 1
            if n < 3:  # the HEAD and fsspec's GET after it; a page: two GETs
                self.send_response(429 if n == 1 else 503)
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return super().send_head()

    with _web_folder(tmp_path / "www", Limited) as base:
        vol = lv.open(f"{base}/series/", scale=False, use_index=False)
        np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert seen["/series/"] >= 3 and all(
        seen[f"/series/{os.path.basename(f)}"] >= 3 for f in truth.files
    )


def test_listing_times_in_milliseconds_are_the_objects_scanned(synthetic, s3_server: S3):
    """MinIO and Ceph list LastModified with milliseconds, HEAD answers whole seconds: the
    object is the one scanned (every compute raised SourceChangedError, size and ETag unchanged);
    a real change is still found."""
    truth, url = synthetic
    rewritten: list[int] = []
    port = free_port()
    upstream = int(s3_server.endpoint.rsplit(":", 1)[1])
    opts = {**s3_server.options(), "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"}}
    opts["client_kwargs"]["region_name"] = "us-east-1"
    with serving(listing_ms_proxy(upstream, rewritten), port):
        vol = open_dicom(url, storage_options=opts, scale=False, use_index=False)
        np.testing.assert_array_equal(vol.compute(), truth.stored)
        assert rewritten, "the listing went through the proxy"
        bucket = url[len("s3://") :].split("/", 1)[0]
        first = sorted(
            o["Key"] for o in s3_server.client.list_objects_v2(Bucket=bucket)["Contents"]
        )
        body = s3_server.client.get_object(Bucket=bucket, Key=first[0])["Body"].read()
        s3_server.client.put_object(Bucket=bucket, Key=first[0], Body=body[:-2] + b"\x00\x01")
        with pytest.raises(SourceChangedError):
            vol.compute()
    _io.clear_filesystems()


def test_synthetic_series_opens_through_s3_equal_to_local_and_truth(synthetic, s3_server: S3):
    truth, url = synthetic
    opts = s3_server.options()
    report = lv.scan(url, storage_options=opts)
    local = lv.scan(os.path.dirname(truth.files[0]))
    assert len(report) == len(local) == 1
    assert report[0].id == local[0].id and report[0].shape == local[0].shape
    assert report[0].uid == local[0].uid and not report.skipped
    vol = open_dicom(url, storage_options=opts)
    ref = open_dicom(os.path.dirname(truth.files[0]))
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-5)
    np.testing.assert_allclose(vol.affine, ref.affine, atol=0)
    got = vol.compute()
    np.testing.assert_array_equal(got, ref.compute())
    np.testing.assert_allclose(got, truth.stored * 2.0 - 5)
    raw = open_dicom(url, storage_options=opts, scale=False).compute()
    np.testing.assert_array_equal(raw, truth.stored)
    np.testing.assert_array_equal(raw, _pydicom_volume(truth.files))
    # one slice (a remote ranged read per frame)
    np.testing.assert_array_equal(vol[:, :, 4:5].compute(), ref[:, :, 4:5].compute())


def test_plan_pickles_without_credentials_in_its_text(synthetic, s3_server: S3):
    _, url = synthetic
    vol = open_dicom(url, storage_options=s3_server.options())
    text = repr(vol) + json.dumps(vol.meta, default=str) + vol.data.name
    assert S3_SECRET not in text and S3_KEY not in text
    # the graph travels to another process: locations are plain, picklable values
    from lazyvol.chunking import source_of

    found = source_of(vol.data)
    assert found is not None
    plan = found[1]
    again = pickle.loads(pickle.dumps(plan))
    assert again.locations and again.locations[0].url.startswith("s3://")


def test_scan_index_is_keyed_by_etag_and_holds_no_credentials(
    synthetic, s3_server: S3, dicom_cache: Path
):
    truth, url = synthetic
    opts = s3_server.options()
    first = lv.scan(url, storage_options=opts)
    saved = list((dicom_cache / "dicom-scan").glob("*.json"))
    assert saved, "the scan of a prefix is indexed"
    for f in saved:
        text = f.read_text()
        assert S3_SECRET not in text and S3_KEY not in text
    index = next(f for f in saved if not f.name.endswith(".report.json"))
    entries = read_json_checked(index)["entries"]
    etags = {e[4] for e in entries.values()}
    assert len(etags) == len(truth.files) and "" not in etags
    # unchanged: the saved scan is used (same result, no header read again)
    from lazyvol.dicom import scan_index

    again = scan_index.scan_files(_io.Location.of(url, opts))
    assert again.from_index == len(truth.files) and again.parsed == 0
    assert [i.to_json() for i in lv.scan(url, storage_options=opts)] == [i.to_json() for i in first]


def test_object_changed_after_open_is_a_source_changed_error(synthetic, s3_server: S3, s3_bucket):
    truth, url = synthetic
    vol = open_dicom(url, storage_options=s3_server.options())
    keys = [o["Key"] for o in s3_server.client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    # rewrite one object with other content of the same size (another ETag)
    body = bytearray(Path(truth.files[0]).read_bytes())
    body[-2:] = bytes([body[-2] ^ 0xFF, body[-1] ^ 0xFF])
    s3_server.client.put_object(Bucket=s3_bucket, Key=keys[0], Body=bytes(body))
    with pytest.raises(SourceChangedError, match=r"s3://.*changed"):
        vol.compute()
    # a new open rescans (the listing has the new ETag) and reads the new bytes
    fresh = open_dicom(url, storage_options=s3_server.options(), scale=False).compute()
    assert fresh.shape == (24, 20, 9)


def test_header_scan_requests_and_bytes_are_bounded(tmp_path: Path, s3_server: S3, s3_bucket):
    """A header scan costs one listing and one bounded ranged read per object (moto counts)."""
    truth = write_dicom_series(tmp_path / "big", (256, 256, 6), dtype="int16")
    url = _upload(s3_server, s3_bucket, truth.files, "series")
    total = sum(os.path.getsize(f) for f in truth.files)
    from lazyvol.dicom import header_scan, listing, source

    found = listing.list_prefix(_io.Location.of(url, s3_server.options()))
    requested: list[int] = []
    real = header_scan.read_ranges

    def counting(reqs):
        reqs = list(reqs)
        assert all(len(r) == 4 and r[3] is not None for r in reqs)  # each read checked
        requested.extend(r[2] for r in reqs)
        return real(reqs)

    header_scan.read_ranges = counting
    reads: list[int] = []
    real_read = source.read
    source.read = lambda loc, off, n, **kw: reads.append(n) or real_read(loc, off, n, **kw)
    try:
        objects = [(u, _io.SourceStamp(u, s, m, etag=e)) for u, s, m, _, _, e in found]
        results = header_scan.parse_remote(objects, _io.StorageOptions(s3_server.options()))
    finally:
        header_scan.read_ranges = real
        source.read = real_read
    assert all(isinstance(r, list) and len(r) > 2 for r in results)  # records, no skips
    assert len(requested) == len(truth.files) and not reads  # one ranged read per object
    assert sum(requested) <= len(truth.files) * source.REMOTE_WINDOW < 0.6 * total


def test_scan_lists_the_same_series_as_locally_with_two_series(
    tmp_path: Path, s3_server: S3, s3_bucket
):
    a = write_dicom_series(tmp_path / "a", (8, 8, 4), series_number=3)
    b = write_dicom_series(tmp_path / "b", (8, 6, 5), series_number=7, orientation="sagittal")
    (tmp_path / "b" / "notes.txt").write_text("not dicom")
    url = _upload(
        s3_server, s3_bucket, [*a.files, *b.files, str(tmp_path / "b" / "notes.txt")], "p"
    )
    remote = lv.scan(url, storage_options=s3_server.options())
    local_a, local_b = lv.scan(tmp_path / "a"), lv.scan(tmp_path / "b")
    assert [(i.id, i.number, i.shape) for i in remote] == [
        (i.id, i.number, i.shape) for i in [*local_a, *local_b]
    ]
    assert len(remote.skipped) == 1 and remote.skipped[0][0].endswith("notes.txt")
    vol = open_dicom(url, storage_options=s3_server.options(), series=7, scale=False)
    np.testing.assert_array_equal(vol.compute(), b.stored)


@pytest.mark.parametrize(
    "syntax",
    ["1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80"],
    ids=["rle", "jpeg-ls"],
)
def test_compressed_frames_decode_remotely(tmp_path: Path, s3_server: S3, s3_bucket, syntax):
    from pydicom.pixels import get_encoder

    if not get_encoder(syntax).is_available:
        pytest.skip(f"no pydicom encoder installed for {syntax}")
    truth = write_dicom_series(tmp_path / "c", (16, 12, 5), dtype="uint16", compress=syntax)
    url = _upload(s3_server, s3_bucket, truth.files, "comp")
    vol = open_dicom(url, storage_options=s3_server.options(), scale=False)
    assert vol.meta["transfer_syntax"] == syntax
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_array_equal(vol.compute(), _pydicom_volume(truth.files))


def test_a_partly_compressed_series_decodes_each_object_its_own_way(
    tmp_path: Path, s3_server: S3, s3_bucket
):
    # Every third object RLE-compressed, the others native: one volume whose remote frames are
    # fetched and decoded by their own object's transfer syntax.
    from pydicom.uid import RLELossless

    truth = write_dicom_series(tmp_path / "m", (16, 12, 6), dtype="int16", slope=2.0, intercept=-5)
    for f in truth.files[::3]:
        ds = pydicom.dcmread(f)
        ds.compress(RLELossless)
        ds.save_as(f)
    url = _upload(s3_server, s3_bucket, truth.files, "mixed")
    vol = open_dicom(url, storage_options=s3_server.options(), scale=False, chunks=(16, 12, 4))
    assert sorted(vol.meta["transfer_syntaxes"]) == sorted({"1.2.840.10008.1.2.1", RLELossless})
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_array_equal(vol.compute(), _pydicom_volume(truth.files))


def test_real_series_through_s3_equals_local_and_pydicom(s3_server: S3, s3_bucket):
    if not REAL_SERIES.is_dir():
        pytest.skip(f"real scanner DICOM not found at {REAL_SERIES} (../shared/dicom-real)")
    files = sorted(str(p) for p in REAL_SERIES.glob("*.dcm"))
    url = _upload(s3_server, s3_bucket, files, "1.2.840.113619.real")
    opts = s3_server.options()
    remote, local = lv.scan(url, storage_options=opts), lv.scan(REAL_SERIES)
    assert [(i.id, i.shape, i.axis4) for i in remote] == [(i.id, i.shape, i.axis4) for i in local]
    vol = open_dicom(url, storage_options=opts, scale=False)
    ref = open_dicom(REAL_SERIES, scale=False)
    np.testing.assert_allclose(vol.affine, ref.affine, atol=0)
    got = vol[:, :, :, :2].compute() if vol.ndim == 4 else vol.compute()
    want = ref[:, :, :, :2].compute() if ref.ndim == 4 else ref.compute()
    np.testing.assert_array_equal(got, want)
    # first volume against pydicom
    nk = vol.shape[2]
    first = [f for f in vol.meta["files"]]
    ds0 = pydicom.dcmread(os.path.join(REAL_SERIES, os.path.basename(first[0]).split("-", 1)[1]))
    assert got.shape[:2] == (ds0.Columns, ds0.Rows) and nk >= 1


def _zarr_image(refs, opts):
    """The referenced array as any zarr 3 user opens it (asynchronous reference filesystem)."""
    zarr = pytest.importorskip("zarr")
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem(
        "reference",
        fo=refs,
        remote_protocol="s3",
        remote_options={**opts, "asynchronous": True},
        asynchronous=True,
    )
    store = zarr.storage.FsspecStore(fs, read_only=True, path="")
    return np.asarray(zarr.open_group(store, mode="r", zarr_format=2)["image"][...])


def test_references_for_a_dicom_prefix(synthetic, s3_server: S3):
    truth, url = synthetic
    opts = s3_server.options()
    refs = lv.references(url, storage_options=opts)
    text = json.dumps(refs)
    assert S3_SECRET not in text and S3_KEY not in text
    chunk = refs["refs"]["image/0.0.0"]
    assert chunk[0].startswith(url)
    image = _zarr_image(refs, opts)  # (k, j, i), stored values
    np.testing.assert_array_equal(image.transpose(2, 1, 0), truth.stored)
    attrs = json.loads(refs["refs"]["image/.zattrs"])
    assert attrs["scale_factor"] == 2.0 and attrs["add_offset"] == -5.0


def test_references_for_a_compressed_dicom_prefix(tmp_path: Path, s3_server: S3, s3_bucket):
    pytest.importorskip("imagecodecs")
    truth = write_dicom_series(
        tmp_path / "c", (16, 12, 4), dtype="uint16", compress="1.2.840.10008.1.2.5"
    )
    url = _upload(s3_server, s3_bucket, truth.files, "rle")
    opts = s3_server.options()
    refs = lv.references(url, storage_options=opts)  # decodes each chunk remotely to verify
    np.testing.assert_array_equal(_zarr_image(refs, opts).transpose(2, 1, 0), truth.stored)


def test_one_object_over_http_scan_bytes_and_requests_are_bounded(tmp_path: Path, http_server):
    """The HTTP server counts what it serves: a header scan of a 128 KiB image reads at most one
    64 KiB window of it; one slice read transfers exactly its pixel bytes."""
    truth = write_dicom_series(tmp_path / "h", (256, 256, 1), dtype="int16")
    data = Path(truth.files[0]).read_bytes()
    url = http_server.put("series/one.dcm", data)
    http_server.reset_counts()
    report = lv.scan(url, use_index=False)
    assert len(report) == 1 and report[0].shape == (256, 256, 1)
    gets = [r for r in http_server.requests if r[0] == "GET"]
    assert http_server.bytes_served <= 64 * 1024 < len(data) / 2
    assert len(gets) <= 2, http_server.requests
    vol = open_dicom(url, use_index=False, scale=False)
    http_server.reset_counts()
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    assert http_server.bytes_served == 256 * 256 * 2


def test_long_header_grows_its_window_and_headerless_files_use_pydicom(
    tmp_path: Path, s3_server: S3, s3_bucket
):
    """A header longer than the first 64 KiB window is read on with more ranged reads (never the
    pixels); files without the 128-byte preamble go through pydicom's reader over ranged reads."""
    long = write_dicom_series(
        tmp_path / "long", (64, 64, 3), dtype="int16", extra={"ImageComments": "x" * 150_000}
    )
    assert os.path.getsize(long.files[0]) > 150_000 + 64 * 64 * 2
    bare = tmp_path / "bare"
    bare.mkdir()
    plain = write_dicom_series(tmp_path / "plain", (16, 12, 3), dtype="uint16", seed=3)
    for f in plain.files:
        (bare / os.path.basename(f)).write_bytes(Path(f).read_bytes()[132:])  # no preamble/DICM
    opts = s3_server.options()
    for name, truth, files in (
        ("long", long, long.files),
        ("bare", plain, sorted(str(p) for p in bare.iterdir())),
    ):
        url = _upload(s3_server, s3_bucket, files, name)
        local = lv.scan(os.path.dirname(files[0]))
        remote = lv.scan(url, storage_options=opts)
        assert [(i.id, i.shape) for i in remote] == [(i.id, i.shape) for i in local], name
        vol = open_dicom(url, storage_options=opts, scale=False)
        np.testing.assert_array_equal(vol.compute(), truth.stored)
    from lazyvol.dicom import header_scan, source

    reads: list[int] = []
    real_read = source.read
    source.read = lambda loc, off, n, **kw: reads.append(off) or real_read(loc, off, n, **kw)
    try:
        url = f"s3://{s3_bucket}/long/"
        from lazyvol.dicom import listing

        objects = [
            (u, _io.SourceStamp(u, s, m, etag=e))
            for u, s, m, _, _, e in listing.list_prefix(_io.Location.of(url, opts))
        ]
        results = header_scan.parse_remote(objects, _io.StorageOptions(opts))
    finally:
        source.read = real_read
    assert all(isinstance(r, list) and len(r) > 2 for r in results)
    # each object's window grew past 64 KiB (more ranged reads), none reached into the pixels
    size = min(st.size for _, st in objects)
    assert len(reads) >= len(objects)
    assert all(64 * 1024 <= off < size - 64 * 64 * 2 for off in reads), (reads, size)


def test_remote_series_computes_in_worker_processes(synthetic, s3_server: S3):
    """The graph carries Locations and stamps only: worker processes read the objects."""
    truth, url = synthetic
    vol = open_dicom(url, storage_options=s3_server.options(), scale=False, chunks=(24, 20, 3))
    got = vol.data.compute(scheduler="processes", num_workers=2)
    np.testing.assert_array_equal(got, truth.stored)


def test_missing_prefix_and_empty_bucket_are_typed_errors(s3_server: S3, s3_bucket):
    from lazyvol.errors import SourceNotFoundError

    opts = s3_server.options()
    with pytest.raises(SourceNotFoundError, match=rf"s3://{s3_bucket}/nothing") as info:
        lv.scan(f"s3://{s3_bucket}/nothing/", storage_options=opts)
    assert S3_SECRET not in str(info.value)
    with pytest.raises(SourceNotFoundError, match="no object under this prefix"):
        lv.scan(f"s3://{s3_bucket}/", storage_options=opts)  # an empty bucket


def test_siemens_mosaic_tiles_read_remotely(tmp_path: Path, s3_server: S3, s3_bucket):
    """Mosaic tiles: only the tile rows needed, by ranged reads of each object."""
    from lazyvol.testing import write_mosaic_series

    truth = write_mosaic_series(tmp_path / "m", (8, 6, 5), volumes=2, head_first=True)
    url = _upload(s3_server, s3_bucket, truth.files, "mosaic")
    vol = open_dicom(url, storage_options=s3_server.options())
    ref = open_dicom(tmp_path / "m")
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    np.testing.assert_allclose(vol.affine, ref.affine, atol=0)
    assert vol.meta["bids"] == ref.meta["bids"]


@pytest.mark.parametrize("mode", ["", "weak"])
def test_mosaic_object_replaced_over_http_is_refused_with_any_etag(
    tmp_path: Path, http_server, mode: str
):
    """A mosaic's tiles are read one range at a time: with a strong ETag the request carries
    If-Match; with a weak one (no If-Match possible) the object is checked after the read.
    Either way an object replaced after open (same size) is refused, not served."""
    from lazyvol.testing import write_mosaic_series

    old = write_mosaic_series(tmp_path / "a", (8, 6, 5), volumes=1, seed=1)
    new = write_mosaic_series(tmp_path / "b", (8, 6, 5), volumes=1, seed=2)
    assert [os.path.getsize(f) for f in old.files] == [os.path.getsize(f) for f in new.files]
    urls = [
        http_server.put(f"{mode}m/{os.path.basename(f)}", Path(f).read_bytes(), mode)
        for f in old.files
    ]
    vol = open_dicom(urls[0])
    np.testing.assert_array_equal(vol.compute(), old.stored)
    for f, g in zip(old.files, new.files, strict=True):
        http_server.put(f"{mode}m/{os.path.basename(f)}", Path(g).read_bytes(), mode)
    with pytest.raises(SourceChangedError):
        vol.compute()


@pytest.mark.parametrize("mode", ["weak", "weakhead"])
def test_weak_etags_read_without_false_changes_or_extra_heads(
    tmp_path: Path, http_server, mode: str
):
    """A weak ETag with Last-Modified: every read checks both, so no HEAD after it (a web folder
    of 12 files made 28 HEADs, one after another); a HEAD's W/"x" and a GET's "x" name one tag
    (RFC 9110 weak comparison), where the file was refused as changed."""
    truth = write_dicom_series(tmp_path / "s", (8, 6, 3), seed=4)
    for f in truth.files:
        url = http_server.put(f"{mode}/{os.path.basename(f)}", Path(f).read_bytes(), mode)
        http_server.reset_counts()
        got = open_dicom(url).compute()
        np.testing.assert_array_equal(got[..., 0], _pydicom_volume([f])[..., 0])
        heads = [r for r in http_server.requests if r[0] == "HEAD"]
        assert len(heads) <= 1, heads  # the stamp at open, no verifying HEAD after


def test_remote_frames_of_several_bits_stored_are_fetched_in_one_batch(
    tmp_path: Path, s3_server: S3, s3_bucket, monkeypatch
):
    # A chunk whose BitsStored changes from slice to slice is read in runs, one per BitsStored;
    # its remote frames are still fetched in one batch of requests in flight at once (a batch per
    # run would put the runs' round trips one after another). Values as pydicom's.
    from lazyvol.dicom import pixels

    bits = [16 if k % 3 == 1 else 12 for k in range(7)]
    per = [{"BitsStored": b, "HighBit": b - 1} for b in bits]
    truth = write_dicom_series(
        tmp_path / "b",
        (16, 12, 7),
        dtype="int16",
        bits_stored=12,
        dirty_high_bits=True,
        per_slice=per,
    )
    url = _upload(s3_server, s3_bucket, truth.files, "bits")
    vol = open_dicom(url, storage_options=s3_server.options(), chunks=(16, 12, 7))
    batches: list[int] = []
    orig = pixels.read_ranges
    monkeypatch.setattr(
        pixels,
        "read_ranges",
        lambda reqs, *a, **k: batches.append(len(reqs)) or orig(reqs, *a, **k),
    )
    np.testing.assert_array_equal(vol.compute(), _pydicom_volume(truth.files))
    assert batches == [7]


def test_remote_frames_of_several_stored_dtypes_are_fetched_by_their_own_size(
    tmp_path: Path, s3_server: S3, s3_bucket, monkeypatch
):
    # 8- and 16-bit slices in one chunk: each frame's request is its own size (a 16-bit size for
    # an 8-bit frame reads past its Pixel Data; an 8-bit size for a 16-bit frame, half of it),
    # all in one batch. Values as pydicom's.
    from lazyvol.dicom import pixels

    truth = write_dicom_series(tmp_path / "m", (16, 12, 6), dtype="uint16")
    rng = np.random.default_rng(5)
    for k, f in enumerate(truth.files):
        ds = pydicom.dcmread(f)
        if k % 2:
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
            ds.PixelData = rng.integers(0, 256, size=(12, 16)).astype(np.uint8).tobytes()
            ds.save_as(f)
    url = _upload(s3_server, s3_bucket, truth.files, "mixed")
    vol = open_dicom(url, storage_options=s3_server.options(), chunks=(16, 12, 6))
    sizes: list[list[int]] = []
    orig = pixels.read_ranges
    monkeypatch.setattr(
        pixels,
        "read_ranges",
        lambda reqs, *a, **k: sizes.append([r[2] for r in reqs]) or orig(reqs, *a, **k),
    )
    assert vol.dtype == np.uint16
    np.testing.assert_array_equal(vol.compute(), _pydicom_volume(truth.files))
    assert len(sizes) == 1 and sorted(set(sizes[0])) == [16 * 12, 16 * 12 * 2]


def test_credentials_in_a_folder_url_reach_the_server_but_no_output(tmp_path: Path):
    """``http://user:password@host/series/``: the server gets the credentials with every request
    (Basic auth; it answers 401 without them), and no volume source, file list, scan report or
    xarray attribute shows them (a DICOM folder's source and files held the password)."""
    import base64

    truth = write_dicom_series(tmp_path / "www" / "series", (16, 12, 5), seed=4)
    wanted = "Basic " + base64.b64encode(b"alice:p@ss w0rd").decode()

    class Guarded(_Quiet):
        def _allowed(self) -> bool:
            if self.headers.get("Authorization") == wanted:
                return True
            self.send_error(401)
            return False

        def do_GET(self) -> None:
            if self._allowed():
                super().do_GET()

        def do_HEAD(self) -> None:
            if self._allowed():
                super().do_HEAD()

    with _web_folder(tmp_path / "www", Guarded) as base:
        url = base.replace("http://", "http://alice:p%40ss%20w0rd@") + "/series/"
        vol = lv.open(url)
        np.testing.assert_array_equal(vol.compute(), truth.stored)
        report = lv.scan(url)
        shown = [vol.source, repr(vol), vol._repr_html_(), str(vol.meta), str(report)]
        shown += [str(info.files) for info in report]
        shown.append(str(vol.to_xarray().attrs))
        assert not [s for s in shown if "w0rd" in s or "alice" in s]
        with pytest.raises(lv.RemoteAccessError):  # and without them the server refuses
            lv.open(f"{base}/series/")


def test_an_index_page_linking_back_to_itself_or_a_link_loop_lists_each_folder_once(
    tmp_path: Path,
):
    """A page linking ``../series/`` (itself) made the listing recurse until Python's stack ran
    out (a RecursionError inside the error); a symbolic link loop on the server's disk
    (``again -> .``) was crawled as ``again/again/...`` for tens of seconds. Each folder is
    listed once now, and the loop is a skipped entry with the reason."""
    truth = write_dicom_series(tmp_path / "www" / "series", (16, 12, 5), seed=5)
    (tmp_path / "www" / "series" / "again").symlink_to(".")

    class SelfLinking(_Quiet):
        def index_links(self, path: str) -> list[str] | None:
            return ['<a href="../series/">again, by its parent</a>', *_entry_links(path)]

    with _web_folder(tmp_path / "www", SelfLinking) as base:
        url = f"{base}/series/"
        vol = lv.open(url)
        np.testing.assert_array_equal(vol.compute(), truth.stored)
        assert len(vol.meta["files"]) == 5  # again/IM... are not more slices
        skipped = lv.scan(url).skipped
        assert [(p.rstrip("/").rsplit("/", 1)[-1], "link loop" in why) for p, why in skipped] == [
            ("again", True)
        ]


def test_a_web_folder_url_without_its_slash_says_to_add_it(tmp_path: Path):
    """Web servers redirect ``/series`` to ``/series/`` and answer with the index page: read as
    one object that is not DICOM. The error says to end the URL with '/'; with it, it opens."""
    import warnings

    truth = write_dicom_series(tmp_path / "www" / "series", (16, 12, 3), seed=6)
    with _web_folder(tmp_path / "www") as base:
        url = f"{base}/series"
        with warnings.catch_warnings(), pytest.raises(FormatError, match=r"end the URL with '/'"):
            warnings.simplefilter("ignore")  # (the index page has no validators)
            lv.open(url)
        np.testing.assert_array_equal(lv.open(url + "/").compute(), truth.stored)


def test_nested_folders_listing_what_their_parent_lists_are_no_loop(tmp_path: Path):
    """DICOM/1/1/IM*: DICOM/ and DICOM/1/ both list just "1" -- folders of folders, no link loop
    (the loop check took them for one and lost the series); Apache's sort links are no entries."""
    truth = write_dicom_series(tmp_path / "www" / "DICOM" / "1" / "1", (16, 12, 4), seed=7)

    class Apache(_Quiet):
        def index_links(self, path: str) -> list[str] | None:
            return _SORT_LINKS + _entry_links(path)

    with _web_folder(tmp_path / "www", Apache) as base:
        url = f"{base}/DICOM/"
        report = lv.scan(url)
        assert report.skipped == [] and len(report) == 1
        np.testing.assert_array_equal(lv.open(url).compute(), truth.stored)


def test_two_links_to_a_folder_of_folders_above_end_without_crawling_every_path(tmp_path: Path):
    """study/{series, a -> ., b -> .}: study/ holds folders only, so the loop check (a folder
    listing the same files as one above it) never fired, and the two links branch: the listing
    read 2**32 pages (a scan never ended). A third listing of the same folders ends it; the
    same names at two levels (study/1/, 2/ holding series 1/, 2/) are still a tree."""
    truth = write_dicom_series(tmp_path / "www" / "study" / "series", (16, 12, 4), seed=8)
    for name in ("a", "b"):
        (tmp_path / "www" / "study" / name).symlink_to(".")
    pages: list[str] = []

    class Counting(_Quiet):
        def index_links(self, path: str) -> list[str] | None:
            pages.append(path)
            return _entry_links(path)

    with _web_folder(tmp_path / "www", Counting) as base:
        url = f"{base}/study/"
        report = lv.scan(url)
        assert len(pages) < 20, len(pages)
        assert len(report) == 1 and len(report[0].files) == 4
        # the loops, and the copies of the series read through a link before a loop was told
        # (each an exact duplicate of the file kept, accounted for in skipped)
        reasons = [why for _p, why in report.skipped]
        assert any("link loop" in why for why in reasons)
        assert all("link loop" in why or why.startswith("exact duplicate") for why in reasons)
        np.testing.assert_array_equal(lv.open(url).compute(), truth.stored)
    same = tmp_path / "same"
    for a in ("1", "2"):
        for b in ("1", "2"):
            write_dicom_series(same / "www" / "study" / a / b, (8, 8, 2), seed=int(a + b))
    with _web_folder(same / "www") as base:
        report = lv.scan(f"{base}/study/")
        assert report.skipped == [] and len(report) == 4


def test_a_tree_of_the_same_folder_names_at_three_levels_names_its_remedy(tmp_path: Path):
    """study/{1,2}/{1,2}/{1,2}/ (numbered folders: subject, session, run) looks like a link loop
    by its listings alone, and is passed over from its third level: the refusal named the
    folders but no way to them. It now says to open a folder by its own URL, which reads it."""
    for a in ("1", "2"):
        for b in ("1", "2"):
            for c in ("1", "2"):
                write_dicom_series(
                    tmp_path / "www" / "study" / a / b / c, (8, 8, 2), seed=int(a + b + c)
                )
    with _web_folder(tmp_path / "www") as base:
        report = lv.scan(f"{base}/study/")
        assert report.skipped and all("open or scan its URL" in why for _p, why in report.skipped)
        assert len(lv.scan(report.skipped[0][0])) == 2


def test_siemens_protocol_keys_read_through_the_byte_layer(
    tmp_path: Path, s3_server: S3, s3_bucket
):
    """The Siemens sidecar keys of the protocol (CSA series header, read once per volume at its
    recorded offset) of a mosaic series in a bucket equal the local open's."""
    src = Path(os.environ.get("LAZYVOL_REAL_DICOM", REAL)) / "dcm_qa_mosaic" / "In" / "ep2d_Asc_2"
    if not src.is_dir():
        pytest.skip(f"{src} not available")
    files = [str(p) for p in sorted(src.glob("*.dcm"))[:2]]
    url = _upload(s3_server, s3_bucket, files, "siemens-mosaic")
    local = tmp_path / "local"
    local.mkdir()
    for f in files:
        (local / os.path.basename(f)).write_bytes(Path(f).read_bytes())
    remote = lv.open(url, storage_options=s3_server.options()).meta["bids"]
    assert remote == lv.open(local).meta["bids"]
    assert remote["BaseResolution"] == 64 and remote["ParallelReductionFactorInPlane"] == 2


@pytest.mark.parametrize(
    "validators",
    [{"etag": None, "mtime": None}, {"etag": None}, {"etag": "nginx"}],
    ids=["none", "last-modified", "nginx-etag"],
)
def test_a_web_folder_without_content_etags_is_not_scanned_from_its_saved_index(
    tmp_path: Path, hostile_server, validators, monkeypatch
):
    """The saved scan index and report of a remote prefix reused a file's header when its size,
    Last-Modified and ETag were those saved: with no ETag (python -m http.server), none at all,
    or nginx's time-and-size one, two files rewritten at the same size within the second (their
    positions swapped) were read with the old headers: the slices came out in the old order,
    silently, where pydicom reads the new files' positions. Such files are parsed again (the
    cache refuses entries under them for the same reason); a content ETag keeps the index."""
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    truth = write_dicom_series(tmp_path / "s", (16, 12, 6), seed=4)
    names = [os.path.basename(f) for f in truth.files]
    for f in truth.files:
        data = Path(f).read_bytes()
        nginx = {"etag": f'"{1_700_000_000:x}-{len(data):x}"'} if validators["etag"] else {}
        hostile_server.put(f"s/{os.path.basename(f)}", data, **{**validators, **nginx})
    hostile_server.index_pages = True
    url = f"{hostile_server.url}/s/"
    with pytest.warns() if validators.get("mtime", 1) is None else contextlib.nullcontext():
        np.testing.assert_array_equal(lv.open(url).compute(), truth.stored)
    first, last = (pydicom.dcmread(truth.files[i]) for i in (0, -1))
    first.ImagePositionPatient, last.ImagePositionPatient = (
        last.ImagePositionPatient,
        first.ImagePositionPatient,
    )
    for ds, name in ((first, names[0]), (last, names[-1])):
        buf = io.BytesIO()
        ds.save_as(buf)
        assert len(buf.getvalue()) == len(hostile_server.obj(f"s/{name}").data)
        hostile_server.obj(f"s/{name}").data = buf.getvalue()
    swapped = truth.stored[:, :, [5, 1, 2, 3, 4, 0]]  # (pydicom's order of the new files)
    np.testing.assert_array_equal(lv.open(url).compute(), swapped)
