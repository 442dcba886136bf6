"""The bad-input matrix of ../shared/BAD_INPUTS.md: one test (at least) per row of every table.

``COVERAGE`` maps each row to the tests that meet it: tests in this file build the bad input (with
pydicom/nibabel writers, :mod:`lazyvol.testing`, or by editing the real files pydicom and nibabel
ship) and assert the exact error class and that the message names the file and the field/tag; rows
already met by a test elsewhere are referenced by node id instead of duplicated.
``test_coverage_matrix_is_complete`` checks that every row is listed and every referenced test
exists, so the matrix stays complete and checkable.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import shutil
import struct
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from nibabel.testing import data_path as NIB_DATA
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

import lazyvol as lv
from lazyvol import cache as lvcache
from lazyvol.testing import write_dicom_series, write_phantom_nifti

TESTS = Path(__file__).parent
SHAPE = (16, 12, 6)

# -- the matrix -----------------------------------------------------------------------------------

HERE = "tests/test_bad_inputs.py::"
COVERAGE: dict[str, dict[str, list[str]]] = {
    "DICOM": {
        "file cut inside its header": [
            HERE + "test_real_file_cut_inside_header_skipped_with_tags",
            HERE + "test_real_file_cut_before_rows_reason_names_missing_tags",
            "tests/test_dicom_bad.py::test_file_cut_inside_header_is_skipped_and_series_flagged",
        ],
        "native pixel data shorter than Rows x Columns x Frames x Samples x Bits/8": [
            HERE + "test_real_native_pixel_data_short_refused_at_open",
            "tests/test_dicom_bad.py::test_truncated_pixel_data_fails_at_open",
            "tests/test_dicom_multiframe.py::test_truncated_multiframe_native_refused",
            "tests/test_dicom_real.py::test_real_truncated_file_is_refused",
        ],
        "encapsulated data truncated / delimiter missing": [
            HERE + "test_real_encapsulated_delimiter_missing",
            "tests/test_dicom_codecs.py::test_truncated_encapsulated_data_fails_at_open",
        ],
        "no Pixel Data at all": [
            HERE + "test_series_without_pixel_data_gives_no_volume",
            "tests/test_dicom_real.py::test_real_non_images_skipped",
        ],
        "missing ImagePositionPatient / ImageOrientationPatient": [
            HERE + "test_missing_orientation_named_no_identity",
            "tests/test_dicom_bad.py::test_missing_position_errors_and_instance_order_fallback_is_flagged",
        ],
        "several SeriesInstanceUIDs in one folder": [
            "tests/test_dicom_scan.py::test_two_series_raise_multiple_and_select",
        ],
        "Rows/Columns, bits, spacing or photometric differ inside a series": [
            HERE + "test_attribute_differs_inside_series_splits",
            "tests/test_dicom_scan.py::test_mixed_sizes_and_orientations_split_with_reasons",
        ],
        "missing slice / uneven spacing": [
            HERE + "test_instance_number_gap_alone_is_a_warning",
            "tests/test_dicom_bad.py::test_gap_reports_expected_and_found_spacing",
            "tests/test_dicom_bad.py::test_non_uniform_spacing",
            "tests/test_dicom_bad.py::test_allow_gaps_fills_missing_slices_lazily",
        ],
        "exact duplicate (same SOPInstanceUID, same pixels)": [
            "tests/test_dicom_bad.py::test_exact_duplicate_dropped_with_warning",
            "tests/test_dicom_bad.py::test_conflicting_duplicate_errors",
        ],
        "same position, different instances": [
            "tests/test_dicom_bad.py::test_same_position_without_explaining_tag_errors",
            "tests/test_dicom_bad.py::test_repeats_explained_by_echo_are_one_volume_per_echo",
            HERE + "test_uneven_repeats_are_an_error",
        ],
        "several echoes / phases": [
            "tests/test_dicom_bad.py::test_repeats_explained_by_echo_are_one_volume_per_echo",
            "tests/test_dicom_bad.py::test_echoes_are_one_volume_each_with_or_without_split_4d",
            "tests/test_dicom_bad.py::test_acquisition_number_change_alone_does_not_split",
            "tests/test_dicom_multiframe.py::test_enhanced_4d_temporal_and_echo",
        ],
        "gantry tilt (positions not along the normal)": [
            "tests/test_dicom_series.py::test_gantry_tilt_kept_as_shear",
            HERE + "test_tilt_found_from_positions_not_tag",
        ],
        "localizers, radial or non-parallel slices": [
            "tests/test_dicom_scan.py::test_localizers_not_stacked",
            HERE + "test_radial_slices_never_stacked",
            "tests/test_dicom_orientation.py::test_slices_turned_a_little_split_as_dcm2niix_splits_them",
        ],
        "non-image SOP classes (SR, RTSTRUCT, RTPLAN, KO/PR, waveforms)": [
            "tests/test_dicom_real.py::test_real_non_images_skipped",
            HERE + "test_key_object_and_presentation_state_skipped",
        ],
        "image objects that are not plain stacks (SEG, RTDOSE grids, colour cine)": [
            HERE + "test_seg_and_rtdose_refused_with_reason",
            "tests/test_dicom_bad.py::test_multiframe_and_colour_are_unsupported_not_wrong",
        ],
        "DICOMDIR": [
            "tests/test_dicom_scan.py::test_skips_non_dicom_dicomdir_and_non_images",
            HERE + "test_broken_dicomdir_does_not_crash_scan",
        ],
        "non-DICOM files (.DS_Store, README, zero-byte, thumbnails, archives)": [
            "tests/test_dicom_scan.py::test_skips_non_dicom_dicomdir_and_non_images",
            HERE + "test_thumbnails_and_archives_skipped_quietly",
        ],
        "valid DICOM without preamble": [
            "tests/test_dicom_bad.py::test_headerless_dicom_accepted_when_plausible",
        ],
        "malformed values in attributes lazyvol needs": [
            HERE + "test_malformed_number_of_frames_named",
            HERE + "test_junk_in_unused_attribute_tolerated",
            "tests/test_dicom_bad.py::test_malformed_needed_attribute_named",
        ],
        "compressed syntax without an installed decoder": [
            "tests/test_dicom_codecs.py::test_missing_decoder_names_syntax_and_package",
        ],
        "lying dimensions (e.g. 65535 x 65535 x 10^4 frames)": [
            HERE + "test_lying_dimensions_native_refused",
            HERE + "test_lying_dimensions_encapsulated_refused",
            "tests/test_dicom_codecs.py::"
            "test_rle_frames_far_too_short_for_rows_and_columns_are_refused_at_open",
            "tests/test_dicom_codecs.py::"
            "test_a_multi_frame_codestream_disagreeing_with_rows_and_columns_is_refused_at_open",
            "tests/test_resource_limits.py::test_terabyte_headers_refused_without_growing",
        ],
        "mosaic and enhanced multi-frame": [
            HERE + "test_mosaic_without_slice_count_is_a_format_error",
            "tests/test_dicom_mosaic.py::test_synthetic_mosaic_matches_truth_and_nibabel",
            "tests/test_dicom_mosaic.py::test_bad_mosaic_is_a_format_error",
            "tests/test_dicom_multiframe.py::test_enhanced_matches_truth",
        ],
        "huge folders (100k files), deep nesting, symlink loops": [
            "tests/test_dicom_scan.py::test_symlinks_not_followed_by_default_and_loops_detected",
            "tests/test_dicom_scan.py::test_process_pool_scan_matches_serial",
            "tests/test_dicom_scan.py::test_progress_bar",
            HERE + "test_deep_nesting",
            "tests/test_resource_limits.py::test_max_scan_files",
        ],
        "Siemens mosaic, one-file-per-slice 4D (fMRI/DWI/ASL), enhanced multi-frame with dimension indexes": [
            HERE + "test_4d_without_consistent_volume_order_names_rules_tried",
            "tests/test_dicom_4d.py::test_fmri_one_file_per_slice_matches_truth",
            "tests/test_dicom_4d.py::test_dwi_vendor_tags_match_truth_and_dcm2niix",
            "tests/test_dicom_4d.py::test_enhanced_dimension_index_values_order_volumes",
            "tests/test_dicom_4d.py::test_enhanced_one_file_per_volume_is_one_4d_volume",
            "tests/test_dicom_realdata.py::test_matches_dcm2niix_reference",
            # Siemens mosaic
            "tests/test_dicom_mosaic.py::test_real_siemens_mosaic_matches_dcm2niix_reference",
            "tests/test_dicom_mosaic.py::test_synthetic_dwi_matches_dcm2niix",
            "tests/test_dicom_mosaic.py::test_bad_mosaic_is_a_format_error",
        ],
        "magnitude and phase / field map images at the same positions": [
            HERE + "test_magnitude_phase_and_field_map_never_stacked",
            "tests/test_dicom_4d.py::test_magnitude_and_phase_are_split_not_stacked",
            "tests/test_dicom_4d.py::test_enhanced_magnitude_and_field_map_are_separate_volumes",
        ],
        # -- issue 13 (hostile inputs): tests in tests/test_hostile.py --
        "file names that are not valid UTF-8": [
            "tests/test_hostile.py::test_dicom_folder_with_non_utf8_name_opens",
            "tests/test_hostile.py::test_nifti_non_utf8_name_opens",
            "tests/test_hostile.py::test_analyze_pair_non_utf8_name_opens",
            "tests/test_hostile.py::test_error_message_with_non_utf8_name_is_printable",
        ],
        "a file rewritten, replaced or moved after open": [
            "tests/test_hostile.py::test_dicom_rewritten_after_open_is_refused_at_read",
            "tests/test_hostile.py::test_dicom_same_size_rewrite_with_restored_mtime_is_refused",
            "tests/test_hostile.py::test_dicom_replaced_or_deleted_after_open_is_refused",
            "tests/test_hostile.py::test_nifti_rewritten_after_open_is_refused_at_read",
        ],
        "Rows or Columns 0": [
            "tests/test_hostile.py::test_dicom_zero_dimensions_and_bad_bits_refused",
            "tests/test_hostile.py::test_dicom_number_of_frames_below_one_refused",
        ],
        "PixelSpacing negative, zero or non-finite": [
            "tests/test_hostile.py::test_dicom_pixel_spacing_negative_or_zero_refused",
            "tests/test_hostile.py::test_dicom_non_finite_values_refused",
            "tests/test_hostile.py::test_dicom_non_finite_position_refused",
        ],
        "ImageOrientationPatient not orthonormal": [
            "tests/test_hostile.py::test_dicom_skewed_orientation_refused",
            "tests/test_hostile.py::test_dicom_orientation_rounding_is_normalised",
            "tests/test_dicom_orientation.py::test_skew_beyond_the_written_rounding_is_refused",
            "tests/test_dicom_orientation.py::test_orientations_rounded_to_their_decimals_are_normalised",
        ],
        "RescaleSlope 0": [
            "tests/test_hostile.py::test_dicom_rescale_slope_zero_taken_as_one_with_warning",
        ],
    },
    "NIfTI": {
        "corrupt or truncated .nii.gz (including a bad CRC trailer)": [
            "tests/test_nifti.py::test_truncated_nii_gz_caught_at_open",
            "tests/test_nifti.py::test_corrupt_nii_gz_raises_formaterror_on_read",
            "tests/test_nifti.py::test_bad_crc_trailer",
            "tests/test_fuzz_nifti.py::test_gzip_stream_corruption",
            HERE + "test_real_nii_gz_truncated",
        ],
        "negative or absurd dims, dim[0] outside 1..7, unknown datatype, bad magic, bad sizeof_hdr": [
            "tests/test_nifti.py::test_bad_dims",
            "tests/test_nifti.py::test_unknown_datatype_and_bad_magic",
            "tests/test_nifti.py::test_dims_claiming_terabytes_rejected_before_allocation",
            HERE + "test_real_nifti_header_fields",
        ],
        "vox_offset too small or past the end; data shorter than the header says": [
            "tests/test_nifti.py::test_bad_vox_offset",
            "tests/test_nifti.py::test_truncated_nii",
            HERE + "test_real_nifti_header_fields",
        ],
        "scl_slope 0 or NaN; infinite slope or intercept": [
            "tests/test_nifti.py::test_zero_or_nan_slope_means_no_scaling",
            "tests/test_nifti.py::test_infinite_slope_is_an_error",
            HERE + "test_infinite_intercept_is_an_error",
        ],
        ".hdr without its .img": [
            "tests/test_nifti.py::test_hdr_without_img",
            HERE + "test_real_hdr_without_img",
        ],
        "big-endian, NIfTI-2, extensions, unusual vox_offset": [
            "tests/test_nifti.py::test_dtypes_and_endianness",
            "tests/test_nifti.py::test_extensions_and_unusual_offset",
            "tests/test_nifti.py::test_nibabel_test_data_matches_nibabel",
        ],
        "RGB / vector data in statistics and the CLI": [
            "tests/test_cli.py::test_stats_rgb_per_channel",
            "tests/test_cli.py::test_stats_vector_data_per_volume",
        ],
        "a .nii.gz made of several gzip members (valid: gzip and nibabel read it)": [
            "tests/test_gzip_access.py::test_nii_gz_of_several_members_reads_correctly",
            "tests/test_gzip_access.py::test_truncated_single_and_multi_member_files_still_refused",
        ],
        # -- issue 13 (hostile inputs): tests in tests/test_hostile.py --
        "non-finite (NaN/inf) sform or pixdim, singular sform": [
            "tests/test_hostile.py::test_nifti_bad_sform_falls_back_to_qform_with_warning",
            "tests/test_hostile.py::test_nifti_bad_sform_without_qform_refused",
            "tests/test_hostile.py::test_nifti_non_finite_pixdim_refused",
            "tests/test_hostile.py::test_writers_raise_only_lazyvol_errors",
        ],
        "a path that is a FIFO, socket or device": [
            "tests/test_hostile.py::test_fifo_socket_device_paths_are_typed_errors_not_hangs",
            "tests/test_hostile.py::test_fifo_inside_dicom_folder_and_analyze_pair_with_fifo_image",
            "tests/test_hostile.py::test_socket_path_refused_in_process",
        ],
    },
    "Cache and writers": {
        "writer killed at any point": [
            "tests/test_crash_safety.py::test_killed_writer",
            "tests/test_cache.py::test_sigkill_mid_write_leaves_no_usable_entry",
        ],
        "concurrent writers of the same entry": [
            "tests/test_crash_safety.py::test_four_processes_cache_one_source",
            "tests/test_cache.py::test_concurrent_writers_one_valid_entry",
        ],
        "source changed, added, removed, or touched": [
            "tests/test_cache.py::test_touch_and_replace_never_stale",
            "tests/test_cache.py::test_multi_file_source_append_remove_modify",
            "tests/test_staleness.py::test_cache_same_size_same_mtime_replacement",
            "tests/test_staleness.py::test_dicom_folder_changes_never_stale",
        ],
        "a saved seek or scan index whose source was replaced with the same size and mtime": [
            "tests/test_gzip_access.py::test_stale_index_of_a_replaced_file_is_not_used",
            "tests/test_gzip_access.py::test_index_that_does_not_fit_is_rebuilt",
            "tests/test_staleness.py::test_dicom_scan_index_same_size_same_mtime_header",
            "tests/test_staleness.py::test_dicom_scan_index_same_size_same_mtime_pixels",
        ],
        "read-only, full or permission-denied cache location": [
            "tests/test_cache.py::test_unwritable_cache_warns_once_and_reads_uncached",
            "tests/test_cache.py::test_write_failure_in_cache_falls_back",
            "tests/test_dicom_scan.py::test_unwritable_cache_warns_and_continues",
        ],
        "read-only source folder": [
            HERE + "test_read_only_source_folder",
        ],
        "cache paths": [
            "tests/test_cache.py::test_miss_then_hit",
            HERE + "test_cache_paths_never_from_dicom_strings",
        ],
        "CLI numbers out of range, an unreachable scheduler": [
            "tests/test_cli.py::test_cli_numbers_out_of_range",
            "tests/test_cli.py::test_scheduler_unreachable_is_one_line",
        ],
        "a bit flip, a truncated or swapped chunk file, or edited array metadata in a lazyvol "
        "store or cache entry": [
            "tests/test_zarr_io.py::test_bit_flips_in_chunks_raise_integrity_error",
            "tests/test_zarr_io.py::test_every_bit_of_a_zstd_chunk",
            "tests/test_zarr_io.py::test_swapped_chunk_files_raise",
            "tests/test_zarr_io.py::test_swapped_inner_chunks_of_a_shard_raise",
            "tests/test_zarr_io.py::test_truncated_or_extended_chunk_file",
            "tests/test_zarr_io.py::test_edited_array_metadata_raises",
            "tests/test_zarr_io.py::test_store_without_checksums_opens_with_a_warning",
            "tests/test_cache.py::test_bit_flip_in_entry_is_a_miss_rebuilt",
            "tests/test_cache.py::test_entry_damaged_after_open_serves_the_source",
            "tests/test_cache.py::test_swapped_chunks_and_edited_metadata_in_entry",
            "tests/test_fuzz_zarr.py::test_mutated_stores",
        ],
    },
}


def _table_rows(section: str) -> list[str]:
    """Rows (first cells) of one table of BAD_INPUTS.md, if the file is at hand."""
    doc = Path(__file__).resolve().parents[2] / "shared" / "BAD_INPUTS.md"
    if not doc.is_file():
        doc = Path("/work/shared/BAD_INPUTS.md")
    if not doc.is_file():
        return []
    text = doc.read_text(encoding="utf-8")
    part = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in part.splitlines() if ln.startswith("| ") and not ln.startswith("| case")]
    return [r.split("|")[1].strip() for r in rows]


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_coverage_matrix_is_complete():
    # every row of every table has at least one test, and every referenced test exists
    counts = {"DICOM": 31, "NIfTI": 10, "Cache and writers": 9}
    for section, rows in COVERAGE.items():
        assert len(rows) == counts[section], section
        doc_rows = _table_rows(section)
        if doc_rows:
            assert len(doc_rows) == len(rows), (section, doc_rows)
        for row, tests in rows.items():
            assert tests, row
            for node in tests:
                file, name = node.split("::")
                path = TESTS.parent / file
                assert path.is_file(), node
                assert name in _test_names(path), node


# -- helpers --------------------------------------------------------------------------------------


def _copy_real(name: str, dest: Path) -> Path:
    src = get_testdata_file(name)
    assert src is not None, name
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / name
    shutil.copy(src, out)
    return out


def _raises(cls, fn, *args, **kw):
    with pytest.raises(cls) as exc:
        fn(*args, **kw)
    assert type(exc.value) is cls, (type(exc.value), exc.value)
    return str(exc.value)


# -- DICOM ----------------------------------------------------------------------------------------


def test_real_file_cut_inside_header_skipped_with_tags(tmp_path):
    path = _copy_real("CT_small.dcm", tmp_path / "d")
    data = path.read_bytes()
    cut = data.index(b"\x28\x00\x10\x00")  # Rows (0028,0010): after the UIDs, before the pixels
    path.write_bytes(data[: cut + 3])
    report = lv.scan(tmp_path / "d")
    assert len(report) == 0
    (p, reason), *_ = report.skipped
    assert p == str(path)
    assert "(7FE0,0010)" in reason
    msg = _raises(lv.FormatError, lv.open, tmp_path / "d")
    assert str(path) in msg and "(7FE0,0010)" in msg


def test_real_file_cut_before_rows_reason_names_missing_tags(tmp_path):
    path = _copy_real("CT_small.dcm", tmp_path / "d")
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"\x28\x00\x10\x00") + 3])
    (_, reason), *_ = lv.scan(tmp_path / "d").skipped
    assert "Rows (0028,0010)" in reason and "truncated" in reason


def test_real_native_pixel_data_short_refused_at_open(tmp_path, monkeypatch):
    path = _copy_real("CT_small.dcm", tmp_path / "d")
    data = path.read_bytes()
    path.write_bytes(data[:-1000])
    from lazyvol.dicom import pixels, reader

    # (both names: the reader binds pixels.read_block when first imported, so patching the
    # module alone was either no guard or, in a process not yet past that import, left the
    # failing stand-in bound in the reader for every later test)
    for module in (pixels, reader):
        monkeypatch.setattr(module, "read_block", lambda *a: pytest.fail("pixels read"))
    msg = _raises(lv.FormatError, lv.open, path)
    assert str(path) in msg and "Pixel Data (7FE0,0010)" in msg and "truncated" in msg


def test_real_encapsulated_delimiter_missing(tmp_path):
    path = _copy_real("MR_small_RLE.dcm", tmp_path / "d")
    data = path.read_bytes()
    delim = data.rindex(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")  # Sequence Delimitation Item
    path.write_bytes(data[:delim] + data[delim + 8 :])  # trailing padding element follows
    msg = _raises(lv.FormatError, lv.open, path)
    assert str(path) in msg and "(7FE0,0010)" in msg and "(FFFC,FFFC)" in msg
    # cut inside the last fragment as well
    path.write_bytes(data[: delim - 200])
    msg = _raises(lv.FormatError, lv.open, path)
    assert str(path) in msg and "(7FE0,0010)" in msg


def test_series_without_pixel_data_gives_no_volume(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        del ds.PixelData
        ds.save_as(f)
    report = lv.scan(tmp_path / "s")
    assert len(report) == 0
    assert sorted(p for p, _ in report.skipped) == sorted(truth.files)
    assert all("without Pixel Data (7FE0,0010)" in r for _, r in report.skipped)
    msg = _raises(lv.FormatError, lv.open, tmp_path / "s")
    assert "no DICOM image volume" in msg and "(7FE0,0010)" in msg
    assert any(f in msg for f in truth.files)


def test_missing_orientation_named_no_identity(tmp_path):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    for f in truth.files[:2]:
        ds = pydicom.dcmread(f)
        del ds.ImageOrientationPatient
        ds.save_as(f)
    # the files without orientation form their own group: it cannot be opened, the others can
    report = lv.scan(tmp_path / "s")
    broken = [i for i in report if i.error]
    assert len(broken) == 1
    msg = _raises(lv.SeriesError, lv.open, tmp_path / "s", series=broken[0].id)
    assert "ImageOrientationPatient (0020,0037)" in msg
    assert truth.files[0] in msg and truth.files[1] in msg
    assert "instance_order=True" in msg


@pytest.mark.parametrize(
    ("attr", "values", "tag"),
    [
        ("PixelSpacing", (["0.7", "0.8"], ["0.9", "0.8"]), "(0028,0030)"),
    ],
)
def test_attribute_differs_inside_series_splits(tmp_path, attr, values, tag):
    uid = "1.2.826.0.1.3680043.8.498.77"
    per = [{attr: values[0] if k < 3 else values[1]} for k in range(SHAPE[2])]
    write_dicom_series(tmp_path / "s", SHAPE, series_uid=uid, dtype="uint16", per_slice=per)
    report = lv.scan(tmp_path / "s")
    assert len(report) == 2, [i.reasons for i in report]
    assert sorted(i.shape for i in report) == [(16, 12, 3), (16, 12, 3)]
    for info in report:
        assert any(tag in r and "differs" in r for r in info.reasons), info.reasons
    msg = _raises(lv.MultipleSeriesError, lv.open, tmp_path / "s", series=uid)
    assert "split into 2 volumes" in msg and tag in msg


@pytest.mark.parametrize(
    ("usual", "odd"),
    [(["0.78125", "0.78125"], ["0.7813", "0.78125"]), (["0.7", "0.8"], ["0.7", "0.80001"])],
)
def test_pixel_spacing_one_rounding_apart_is_one_volume(tmp_path, usual, odd):
    # One spacing written to other decimals (0.7813 beside 0.78125; 1.25e-5 apart) is no other
    # spacing: dcm2niix and SimpleITK stack the files as one volume. Split by their 5-digit
    # spelling, the series became two volumes, the larger one refused for a gap where the odd
    # slice had been.
    per = [{"PixelSpacing": odd if k % 3 == 1 else usual} for k in range(SHAPE[2])]
    truth = write_dicom_series(tmp_path / "s", SHAPE, dtype="uint16", per_slice=per)
    (info,) = lv.scan(tmp_path / "s")
    assert info.shape == SHAPE, info.reasons
    vol = lv.open(tmp_path / "s")
    assert vol.shape == SHAPE
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    between_rows, between_columns = (float(v) for v in usual)
    np.testing.assert_allclose(vol.spacing[:2], (between_columns, between_rows), rtol=1e-4)


def test_a_split_for_another_reason_does_not_blame_a_spacing_one_rounding_apart(tmp_path):
    # A series split by ImageType (4 ORIGINAL, 4 DERIVED slices) whose one file writes its
    # PixelSpacing to other decimals (0.7813 beside 0.78125): one spacing, which splits nothing,
    # but each volume's reasons began 'PixelSpacing (0028,0030) differs: 0.78125x0.78125 (7
    # files), 0.7813x0.7813 (1 file)'. Spellings one rounding apart are shown as one value.
    per = [
        {
            "PixelSpacing": ["0.7813", "0.7813"] if k == 1 else ["0.78125", "0.78125"],
            "ImageType": ["DERIVED" if k >= 4 else "ORIGINAL", "PRIMARY", "AXIAL"],
        }
        for k in range(8)
    ]
    write_dicom_series(tmp_path / "s", (6, 5, 8), per_slice=per)
    infos = lv.scan(tmp_path / "s", use_index=False)
    assert sorted(i.shape for i in infos) == [(6, 5, 4), (6, 5, 4)]
    for info in infos:
        assert info.reasons and not any("PixelSpacing" in r for r in info.reasons), info.reasons
        assert info.reasons[0].startswith("ImageType (0008,0008)"), info.reasons


def test_pixel_spacings_of_a_series_are_told_apart_in_linear_comparisons(monkeypatch):
    # One SeriesInstanceUID over images of as many PixelSpacing values as images (an anonymiser
    # or a screenshot tool giving one series to a folder): each value was compared with the first
    # value of every spacing before it, 3,000 values 4.5 million comparisons (10,000: two minutes
    # of lazyvol.scan). Each value is now compared with the few within a rounding of it, and the
    # values one rounding apart (1e-4 of the value) still join the first spacing they match.
    import types

    from lazyvol.dicom import spacing_groups

    compared = 0
    same = spacing_groups.same_spacing

    def counted(a: str, b: str) -> bool:
        nonlocal compared
        compared += 1
        return same(a, b)

    monkeypatch.setattr(spacing_groups, "same_spacing", counted)
    values = [0.5 + 0.001 * i for i in range(3000)]
    values += [v * (1 + 5e-5) for v in values[:3]]  # one rounding from the first three
    records = [types.SimpleNamespace(pixel_spacing=[v, v]) for v in values]
    labels = spacing_groups.spacing_labels(records)
    assert compared <= 3 * len(values)
    text = [f"{v:.5g}x{v:.5g}" for v in values]
    for k in range(3):  # (ties of one image each: the lower spelling is its spacing's first)
        assert labels[text[k]] == labels[text[3000 + k]] == min(text[k], text[3000 + k])
    assert len(set(labels.values())) == 3000


def test_monochrome1_and_monochrome2_images_stack_with_a_warning(tmp_path):
    # The photometric says how to display the stored values, not what they are: MONOCHROME1
    # slices among MONOCHROME2 ones stack (as dcm2niix stacks them), values as stored, with a
    # warning. Split, they made two interleaved half-volumes of twice the spacing.
    uid = "1.2.826.0.1.3680043.8.498.78"
    per = [
        {"PhotometricInterpretation": "MONOCHROME1" if k % 3 == 1 else "MONOCHROME2"}
        for k in range(SHAPE[2])
    ]
    truth = write_dicom_series(tmp_path / "s", SHAPE, series_uid=uid, per_slice=per)
    (info,) = lv.scan(tmp_path / "s")
    vol = lv.open(tmp_path / "s")
    assert vol.shape == SHAPE
    np.testing.assert_array_equal(vol.compute(), truth.scaled(vol.dtype))
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-6)
    assert vol.meta["photometric_counts"] == {"MONOCHROME1": 2, "MONOCHROME2": 4}
    assert vol.meta["photometric"] == "MONOCHROME2"
    assert "the 2 MONOCHROME1 images" in vol.meta["monochrome1"]
    assert any(
        "(0028,0004) differs" in w and "MONOCHROME1 (2 images)" in w for w in vol.meta["warnings"]
    )
    # The id is the one the MONOCHROME2 series had before (the most common photometric).
    write_dicom_series(tmp_path / "p", SHAPE, series_uid=uid)
    assert [i.id for i in lv.scan(tmp_path / "p")] == [info.id]


def test_inverted_copies_of_a_series_stay_apart(tmp_path):
    # A series exported twice with the same SOPInstanceUIDs, once MONOCHROME1 (inverted): two
    # volumes under the ids each copy has alone, not one group of conflicting duplicates.
    uid = "1.2.826.0.1.3680043.8.498.79"
    truth = write_dicom_series(tmp_path / "s" / "a", SHAPE, series_uid=uid)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.PixelData = (ds.pixel_array.max() - ds.pixel_array).astype("<i2").tobytes()
        ds.save_as(tmp_path / "s" / f"b_{Path(f).name}")
    ids = {i.id for i in lv.scan(tmp_path / "s")}
    alone = {i.id for i in lv.scan(tmp_path / "s" / "a")}
    assert len(ids) == 2 and alone <= ids
    for info in lv.scan(tmp_path / "s"):
        vol = lv.open(tmp_path / "s", series=info.id)
        assert vol.shape == SHAPE and "photometric_counts" not in vol.meta


def test_instance_number_gap_alone_is_a_warning(tmp_path):
    per = [{"InstanceNumber": k + 1 + (5 if k >= 3 else 0)} for k in range(SHAPE[2])]
    truth = write_dicom_series(tmp_path / "s", SHAPE, per_slice=per)
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.scaled(np.int16))
    assert any("InstanceNumber (0020,0013)" in w for w in vol.meta["warnings"])


def test_4d_without_consistent_volume_order_names_rules_tried(tmp_path):
    # one file per slice, three volumes, no tag telling them apart and InstanceNumbers scrambled
    from lazyvol.dicom.ordering import RULE_NAMES
    from lazyvol.testing import write_dicom_4d_series

    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, 3, labels=(), shuffle_names=False)
    nums = np.random.default_rng(1).permutation(len(truth.files)) + 1
    for path, n in zip(truth.files, nums):
        ds = pydicom.dcmread(path)
        ds.InstanceNumber = int(n)
        ds.save_as(path)
    msg = _raises(lv.SeriesError, lv.open, tmp_path / "s")
    assert str(tmp_path / "s") in msg
    assert all(name in msg for name in RULE_NAMES), msg
    assert "(0020,0013)" in msg and "instance_order=True" in msg
    # the named option opens it, flagged
    vol = lv.open(tmp_path / "s", instance_order=True)
    assert vol.meta["relaxations"] == {"instance_order": True}


def test_4d_without_instance_numbers_does_not_offer_instance_order(tmp_path):
    # instance_order=True orders by InstanceNumber: with none, the message says so instead of
    # suggesting an option that fails the same way.
    from lazyvol.testing import write_dicom_4d_series

    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, 3, labels=(), shuffle_names=False)
    for path in truth.files:
        ds = pydicom.dcmread(path)
        del ds.InstanceNumber
        ds.save_as(path)
    msg = _raises(lv.SeriesError, lv.open, tmp_path / "s")
    assert "Pass instance_order=True" not in msg
    assert "InstanceNumber (0020,0013) is missing in" in msg and truth.files[0] in msg
    _raises(lv.SeriesError, lv.open, tmp_path / "s", instance_order=True)
    # Numbers that repeat at a position cannot order it either.
    for path in truth.files:
        ds = pydicom.dcmread(path)
        ds.InstanceNumber = 7
        ds.save_as(path)
    for kw in ({}, {"instance_order": True}):
        msg = _raises(lv.SeriesError, lv.open, tmp_path / "s", **kw)
        assert "Pass instance_order=True" not in msg and "repeats at a slice position" in msg


def test_magnitude_phase_and_field_map_never_stacked(tmp_path):
    # magnitude, phase and a field map at the same positions (one file per slice, one series)
    from lazyvol.testing import write_dicom_4d_series

    truth = write_dicom_4d_series(tmp_path / "s", SHAPE, components=["M", "P", "B0 MAP"], labels=())
    report = lv.scan(tmp_path / "s")
    assert sorted(i.meta.get("image_component") for i in report) == [
        "FIELD_MAP",
        "MAGNITUDE",
        "PHASE",
    ]
    assert all(len(i.shape) == 3 for i in report)
    assert all(any("ImageType" in r for r in i.reasons) for i in report)
    with pytest.raises(lv.MultipleSeriesError):
        lv.open(tmp_path / "s")
    phase = next(i for i in report if i.meta["image_component"] == "PHASE")
    np.testing.assert_array_equal(
        lv.open(tmp_path / "s", series=phase.id).compute(), truth.stored[..., 1]
    )


def test_uneven_repeats_are_an_error(tmp_path):
    # two echoes, but the second lacks one position: not every position repeats equally often
    uid = "1.2.3.47"
    write_dicom_series(
        tmp_path / "s",
        SHAPE,
        prefix="A",
        series_uid=uid,
        modality="MR",
        extra={"EchoTime": "10", "EchoNumbers": 1},
    )
    e2 = write_dicom_series(
        tmp_path / "s",
        SHAPE,
        prefix="B",
        series_uid=uid,
        modality="MR",
        seed=2,
        extra={"EchoTime": "20", "EchoNumbers": 2},
    )
    os.remove(e2.files[3])
    # never stacked with the second echo's positions repeating unevenly: each echo is a volume
    # of its own (as dcm2niix writes them), the complete one opens, the other's gap is refused
    msg = _raises(lv.MultipleSeriesError, lv.open, tmp_path / "s")
    assert "(0018,0086)" in msg and "not at the same positions" in msg
    assert str(tmp_path / "s") in msg
    report = sorted(lv.scan(tmp_path / "s"), key=lambda i: i.id)
    shapes = {lv.open(tmp_path / "s", series=i.id).shape for i in report if i.shape[2] == SHAPE[2]}
    assert shapes == {tuple(SHAPE)}
    gap = next(i for i in report if i.shape[2] != SHAPE[2])
    msg = _raises(lv.SeriesError, lv.open, tmp_path / "s", series=gap.id)
    assert "spacing" in msg and str(tmp_path / "s") in msg


def test_tilt_found_from_positions_not_tag(tmp_path):
    truth = write_dicom_series(
        tmp_path / "s", SHAPE, tilt_deg=12.0, extra={"GantryDetectorTilt": "0"}
    )
    vol = lv.open(tmp_path / "s")
    np.testing.assert_allclose(vol.affine, truth.affine, atol=1e-5)
    assert any("gantry tilt" in w for w in vol.meta["warnings"])


def test_radial_slices_never_stacked(tmp_path):
    uid = "1.2.826.0.1.3680043.8.498.78"
    for n, angle in enumerate((0, 30, 60, 90)):
        a = np.deg2rad(angle)
        iop = [np.cos(a), np.sin(a), 0.0, 0.0, 0.0, -1.0]
        write_dicom_series(
            tmp_path / "s",
            (16, 12, 1),
            series_uid=uid,
            orientation=iop,
            prefix=f"R{n}",
            origin=(0.0, 0.0, 0.0),
        )
    report = lv.scan(tmp_path / "s")
    assert len(report) == 4 and all(i.shape == (16, 12, 1) for i in report)
    assert all(
        any("ImageOrientationPatient (0020,0037) differs" in r for r in i.reasons) for i in report
    )


def _non_image(path: Path, sop_class: str, modality: str) -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.save_as(path, enforce_file_format=True)


def test_key_object_and_presentation_state_skipped(tmp_path):
    write_dicom_series(tmp_path / "s", SHAPE)
    _non_image(tmp_path / "ko.dcm", "1.2.840.10008.5.1.4.1.1.88.59", "KO")
    _non_image(tmp_path / "pr.dcm", "1.2.840.10008.5.1.4.1.1.11.1", "PR")
    report = lv.scan(tmp_path)
    assert len(report) == 1 and report[0].shape == SHAPE
    reasons = {os.path.basename(p): r for p, r in report.skipped}
    assert "Key Object Selection" in reasons["ko.dcm"] and "(7FE0,0010)" in reasons["ko.dcm"]
    assert "Presentation State" in reasons["pr.dcm"]


def test_seg_and_rtdose_refused_with_reason(tmp_path):
    # RTDOSE: pydicom's own dose grid (multi-frame with GridFrameOffsetVector)
    dose = _copy_real("rtdose.dcm", tmp_path / "dose")
    report = lv.scan(dose)
    assert len(report) == 0
    assert "RTDOSE" in report.skipped[0][1]
    # BAD_INPUTS: "a clear unsupported error"
    msg = _raises(lv.UnsupportedError, lv.open, dose)
    assert str(dose) in msg and "RTDOSE" in msg and "not a plain image stack" in msg
    # SEG: a binary segmentation built on a generated image
    truth = write_dicom_series(tmp_path / "seg", (16, 12, 1))
    ds = pydicom.dcmread(truth.files[0])
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"
    ds.Modality = "SEG"
    ds.save_as(truth.files[0])
    msg = _raises(lv.UnsupportedError, lv.open, truth.files[0])
    assert truth.files[0] in msg and "Segmentation Storage (SEG)" in msg


def test_broken_dicomdir_does_not_crash_scan(tmp_path):
    write_dicom_series(tmp_path / "s", SHAPE)
    src_dir = os.path.join(os.path.dirname(get_testdata_file("CT_small.dcm")), "dicomdirtests")
    data = Path(src_dir, "DICOMDIR").read_bytes()
    (tmp_path / "DICOMDIR").write_bytes(data[: len(data) // 3])
    report = lv.scan(tmp_path)
    assert len(report) == 1 and report[0].shape == SHAPE
    reasons = {os.path.basename(p): r for p, r in report.skipped}
    assert reasons.get("DICOMDIR")


def test_thumbnails_and_archives_skipped_quietly(tmp_path, monkeypatch):
    truth = write_dicom_series(tmp_path / "s", SHAPE)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
    (tmp_path / "thumb.png").write_bytes(png)
    (tmp_path / "thumb.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 300)
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as z:
        z.write(truth.files[0], "inside.dcm")
    # an archive whose bytes 128..132 read "DICM" is still not parsed with force=True
    (tmp_path / "junk.bin").write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 64)
    calls = []
    real = pydicom.dcmread

    def spy(*a, **k):
        calls.append(k.get("force"))
        return real(*a, **k)

    monkeypatch.setattr(pydicom, "dcmread", spy)
    report = lv.scan(tmp_path, use_index=False)
    assert len(report) == 1 and report[0].shape == SHAPE
    reasons = {os.path.basename(p): r for p, r in report.skipped}
    assert set(reasons) >= {"thumb.png", "thumb.jpg", "export.zip", "junk.bin"}
    assert "not a DICOM" in reasons["thumb.png"] and "not a DICOM" in reasons["export.zip"]
    assert True not in calls


def test_malformed_number_of_frames_named(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (16, 12, 1))
    ds = pydicom.dcmread(truth.files[0])
    ds.NumberOfFrames = "1"
    ds.save_as(truth.files[0])
    data = Path(truth.files[0]).read_bytes()
    needle = b"\x28\x00\x08\x00IS\x02\x001 "
    assert data.count(needle) == 1
    Path(truth.files[0]).write_bytes(data.replace(needle, b"\x28\x00\x08\x00IS\x02\x001A"))
    msg = _raises(lv.FormatError, lv.open, truth.files[0])
    assert truth.files[0] in msg and "NumberOfFrames (0028,0008)" in msg and "1A" in msg


def test_junk_in_unused_attribute_tolerated(tmp_path):
    truth = write_dicom_series(
        tmp_path / "s", SHAPE, extra={"PatientAge": "0xZ", "StudyDate": "2O26"}
    )
    data = Path(truth.files[1]).read_bytes()
    # PatientWeight (0010,1030) DS with letters: lazyvol does not use it
    vol = lv.open(tmp_path / "s")
    np.testing.assert_array_equal(vol.compute(), truth.scaled(np.int16))
    assert data  # the files were read as written


def _lie(path: str, rows: int, cols: int, frames: int | None) -> None:
    """Rewrite Rows/Columns (and NumberOfFrames) in place, keeping every other byte."""
    data = bytearray(Path(path).read_bytes())
    for tag, value in (
        (b"\x28\x00\x10\x00US\x02\x00", rows),
        (b"\x28\x00\x11\x00US\x02\x00", cols),
    ):
        pos = data.index(tag)
        data[pos + 8 : pos + 10] = struct.pack("<H", value)
    Path(path).write_bytes(bytes(data))
    if frames is not None:
        ds = pydicom.dcmread(path)
        ds.NumberOfFrames = frames
        ds.save_as(path)


def test_lying_dimensions_native_refused(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (16, 12, 1))
    _lie(truth.files[0], 65535, 65535, 10**4)
    msg = _raises(lv.FormatError, lv.open, truth.files[0])
    assert truth.files[0] in msg and "Pixel Data (7FE0,0010)" in msg
    assert "65535" in msg


def test_lying_dimensions_encapsulated_refused(tmp_path, monkeypatch):
    truth = write_dicom_series(tmp_path / "s", (16, 12, 3), compress=RLELossless)
    for f in truth.files:
        _lie(f, 65535, 65535, None)
    # 3 x 65535^2 x 2 bytes = 25.8 GB claimed by 3 small files: over a 1 GiB limit, and more
    # than any RLE frame of theirs can decode to (64 bytes a byte): refused at open as a lying
    # header, naming the file and the attributes
    monkeypatch.setenv("LAZYVOL_MAX_VOLUME_BYTES", "1GiB")
    msg = _raises(lv.FormatError, lv.open, tmp_path / "s")
    assert any(f in msg for f in truth.files)
    assert "Rows (0028,0010) x Columns (0028,0011)" in msg and "65535 x 65535" in msg


def test_mosaic_without_slice_count_is_a_format_error(tmp_path):
    # ImageType MOSAIC but no Siemens NumberOfImagesInMosaic: never read as one slice
    truth = write_dicom_series(
        tmp_path / "s",
        (16, 12, 1),
        modality="MR",
        image_type=("ORIGINAL", "PRIMARY", "M", "MOSAIC"),
    )
    msg = _raises(lv.FormatError, lv.open, tmp_path / "s")
    assert truth.files[0] in msg and "MOSAIC" in msg and "ImageType (0008,0008)" in msg
    assert "NumberOfImagesInMosaic" in msg


def test_deep_nesting(tmp_path):
    deep = tmp_path
    for n in range(60):
        deep = deep / f"d{n}"
    truth = write_dicom_series(deep, SHAPE)
    report = lv.scan(tmp_path)
    assert len(report) == 1 and report[0].shape == SHAPE
    np.testing.assert_array_equal(lv.open(tmp_path).compute(), truth.scaled(np.int16))


# -- NIfTI ----------------------------------------------------------------------------------------


def test_real_nii_gz_truncated(tmp_path):
    src = Path(NIB_DATA, "example4d.nii.gz").read_bytes()
    bad = tmp_path / "example4d.nii.gz"
    bad.write_bytes(src[: len(src) * 2 // 3])
    with pytest.raises(lv.FormatError) as exc:
        lv.open(bad).compute()
    assert isinstance(exc.value, lv.FormatError) and str(bad) in str(exc.value)


def _edit_nifti(src: Path, dest: Path, offset: int, fmt: str, value) -> Path:
    data = bytearray(src.read_bytes())
    data[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    dest.write_bytes(bytes(data))
    return dest


@pytest.mark.parametrize(
    ("field", "offset", "fmt", "value", "cls"),
    [
        ("sizeof_hdr", 0, ">i", 340, lv.FormatError),
        ("dim[0]", 40, ">h", 8, lv.FormatError),
        ("dim[2]", 44, ">h", -3, lv.FormatError),
        ("datatype", 70, ">h", 77, lv.FormatError),
        ("magic", 344, "4s", b"ni9\0", lv.FormatError),
        ("vox_offset", 108, ">f", 1e9, lv.FormatError),
        ("vox_offset", 108, ">f", 100.0, lv.FormatError),
        ("vox_offset", 108, ">f", float("nan"), lv.FormatError),
        ("dim[1]", 42, ">h", 30000, lv.FormatError),
    ],
)
def test_real_nifti_header_fields(tmp_path, field, offset, fmt, value, cls):
    src = Path(NIB_DATA, "anatomical.nii")
    bad = _edit_nifti(src, tmp_path / "anatomical.nii", offset, fmt, value)
    with pytest.raises(cls) as exc:
        lv.open(bad)
    msg = str(exc.value)
    assert isinstance(exc.value, cls) and str(bad) in msg
    assert field.split("[")[0] in msg or (field == "dim[1]" and "truncated" in msg), msg


def test_infinite_intercept_is_an_error(tmp_path):
    src = Path(NIB_DATA, "anatomical.nii")
    bad = _edit_nifti(src, tmp_path / "a.nii", 112, ">f", 1.0)
    bad = _edit_nifti(bad, bad, 116, ">f", float("-inf"))
    msg = _raises(lv.FormatError, lv.open, bad)
    assert str(bad) in msg and "scl_inter" in msg


def test_real_hdr_without_img(tmp_path):
    hdr = tmp_path / "analyze.hdr"
    shutil.copy(Path(NIB_DATA, "analyze.hdr"), hdr)
    msg = _raises(lv.SourceNotFoundError, lv.open, hdr)
    assert "analyze.img" in msg


# -- cache and writers ----------------------------------------------------------------------------


def test_read_only_source_folder(tmp_path, monkeypatch):
    src_dir = tmp_path / "ro"
    truth = write_dicom_series(src_dir / "dicom", SHAPE)
    nii = write_phantom_nifti(src_dir / "a.nii.gz", (16, 16, 8))
    before = sorted((p, p.stat().st_mtime_ns) for p in src_dir.rglob("*"))
    real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir
    denied: list[str] = []

    def under(path) -> bool:
        try:
            return Path(os.fspath(path)).resolve().is_relative_to(src_dir.resolve())
        except TypeError:
            return False

    def guarded_open(file, mode="r", *a, **k):
        if isinstance(file, str | os.PathLike) and any(c in mode for c in "wax+") and under(file):
            denied.append(os.fspath(file))
            raise PermissionError(13, "Read-only file system", os.fspath(file))
        return real_open(file, mode, *a, **k)

    def guarded_os_open(path, flags, *a, **k):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and under(path):
            denied.append(os.fspath(path))
            raise PermissionError(13, "Read-only file system", os.fspath(path))
        return real_os_open(path, flags, *a, **k)

    def guarded_mkdir(path, *a, **k):
        if under(path):
            denied.append(os.fspath(path))
            raise PermissionError(13, "Read-only file system", os.fspath(path))
        return real_mkdir(path, *a, **k)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)
    np.testing.assert_array_equal(lv.open(src_dir / "dicom").compute(), truth.scaled(np.int16))
    np.testing.assert_array_equal(
        lv.open(src_dir / "dicom", cache=True).compute(), truth.scaled(np.int16)
    )
    ref = nib.load(nii).get_fdata()
    np.testing.assert_array_equal(lv.open(nii).compute(), ref)  # full pass: saves a gzip index
    np.testing.assert_array_equal(lv.open(nii, cache=True).compute(), ref)
    monkeypatch.undo()
    assert denied == []
    assert sorted((p, p.stat().st_mtime_ns) for p in src_dir.rglob("*")) == before


def test_cache_paths_never_from_dicom_strings(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    evil = "../../../escape/..\\x/" + "A" * 40
    truth = write_dicom_series(tmp_path / "s", SHAPE, description=evil, extra={"PatientName": evil})
    vol = lv.open(tmp_path / "s", cache=cache)
    np.testing.assert_array_equal(vol.compute(), truth.scaled(np.int16))
    entries = lvcache.list_entries(cache)
    assert len(entries) == 1
    rel = Path(entries[0].path).relative_to(cache)
    assert all(re.fullmatch(r"[0-9a-f]+", part) for part in rel.parts)
    made = {p.name for p in tmp_path.iterdir()}
    assert made == {"s", "cache", "lazyvol-cache"} - ({"lazyvol-cache"} - made)
    assert not (tmp_path.parent / "escape").exists()
