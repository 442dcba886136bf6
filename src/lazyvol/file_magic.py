"""What a file holds by its first bytes, for messages: a file named as NIfTI whose header is not
one (``sizeof_hdr`` neither 348 nor 540) is often a file of another format under a NIfTI name,
a DICOM slice exported as ``.nii``, or an HDF5 or NumPy file, and the refusal names it
(:func:`content_note`) instead of only the field that failed."""

from __future__ import annotations

__all__ = ["content_note"]

#: Signatures at byte 0: (prefix, what the file is, how to read it).
_AT_START: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file", "read it with h5py, or convert it to NIfTI"),
    (b"\x93NUMPY", "a NumPy .npy array", "load it with numpy.load and wrap it with nibabel"),
    (b"PK\x03\x04", "a zip archive", "unpack it first"),
    (b"NRRD000", "a NRRD file", "read it with SimpleITK, or convert it to NIfTI"),
    (b"ObjectType", "a MetaImage header", "read it with SimpleITK, or convert it to NIfTI"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", "it is no volume"),
    (b"\xff\xd8\xff", "a JPEG image", "it is no volume"),
    (b"II*\x00", "a TIFF image", "read it with tifffile, or convert it to NIfTI"),
    (b"MM\x00*", "a TIFF image", "read it with tifffile, or convert it to NIfTI"),
    (b"BZh", "a bzip2 stream", "lazyvol reads gzip-compressed NIfTI only; recompress it with gzip"),
    (
        b"(\xb5/\xfd",
        "a zstd stream",
        "lazyvol reads gzip-compressed NIfTI only; recompress it with gzip",
    ),
)


def content_note(head: bytes, *, inflated: bool = False) -> str:
    """``"; the file is <what> ...: <fix>"`` when the bytes ``head`` (a file's start, inflated
    from gzip when ``inflated``) are those of a format known by its signature, else ``""``."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        if inflated:
            return (
                "; the file is a gzip-compressed DICOM file ('DICM' at byte 128 of its inflated "
                "start), not NIfTI: lazyvol does not inflate DICOM files; gunzip it, name it "
                ".dcm and open it (or the folder of its series)"
            )
        return (
            "; the file is a DICOM file ('DICM' at byte 128), not NIfTI: name it .dcm (or open "
            "the folder of its series), and lazyvol reads it as DICOM"
        )
    for prefix, what, fix in _AT_START:
        if head.startswith(prefix):
            return f"; the file is {what}, not NIfTI: {fix}"
    return ""
