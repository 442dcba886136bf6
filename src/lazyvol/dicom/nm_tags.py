"""The attributes an NM reconstruction (SPECT) is read by (:mod:`lazyvol.dicom.nm_tomo`):
keyword -> (tag, VR), part of :data:`lazyvol.dicom.header_values.STANDARD_TAGS`."""

from __future__ import annotations

__all__ = ["NM_TAGS"]

NM_TAGS: dict[str, tuple[int, str]] = {
    # geometry and frame order
    "DetectorInformationSequence": (0x00540022, "SQ"),
    "FrameIncrementPointer": (0x00280009, "AT"),
    "SliceVector": (0x00540080, "US"),
    # the other vectors a Frame Increment Pointer may name (read only to see they are constant)
    "EnergyWindowVector": (0x00540010, "US"),
    "DetectorVector": (0x00540020, "US"),
    "PhaseVector": (0x00540030, "US"),
    "RotationVector": (0x00540050, "US"),
    "RRIntervalVector": (0x00540060, "US"),
    "TimeSlotVector": (0x00540070, "US"),
    "AngularViewVector": (0x00540090, "US"),
    "TimeSliceVector": (0x00540100, "US"),
}
