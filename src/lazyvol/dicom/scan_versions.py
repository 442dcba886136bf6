"""The versions of what a DICOM scan saves (:mod:`.saved_scan`): ``INDEX_VERSION`` for the
per-file records and skips (:mod:`.scan_index`), here, and ``REPORT_FORMAT`` for the grouped scan
report and the cache keys of DICOM sources (:mod:`lazyvol.cache_keys`), kept with its own history
in :mod:`.report_format` and re-exported. A saved document of another version is not read (the
folder is scanned again), so any change to what a record holds or to a skip's message bumps
``INDEX_VERSION`` by one, with a comment line below saying why (its history, newest last)."""

from __future__ import annotations

from .report_format import REPORT_FORMAT

__all__ = ["INDEX_VERSION", "REPORT_FORMAT"]

#: 3: FrameRecord gained 4D/diffusion/vendor fields; 4: inode/ctime_ns too; 5: ETag (objects);
#: 6: a skip records whether the file is valid DICOM of an unsupported kind; 7: StackID, and
#: enhanced files' functional-group acquisition values in ``acq``; 8: a Siemens image whose
#: NumberOfImagesInMosaic counts several slices is a mosaic even without MOSAIC in its ImageType;
#: 9: an enhanced file whose ImageType says MOSAIC, with no slice count, and whose frames lie at
#: several positions is read as its frames (Siemens XA de-mosaiced exports), not refused;
#: 10: an image with a Modality LUT Sequence (0028,3000) is skipped as unsupported, not recorded;
#: 11: an enhanced file of one frame (NumberOfFrames 1 stated) is read through its functional
#: groups (its top-level geometry first); 12: Float / Double Float Pixel Data recorded with
#: BitsStored = BitsAllocated (they state none) and read, no longer refused; SamplesPerPixel 0,
#: a negative NumberOfFrames and a rescale of several values recorded as malformed; 13: enhanced
#: DimensionIndexValues recorded most significant first, in dcm2niix's order; a mosaic with a
#: negative SpacingBetweenSlices placed by its SliceThickness (it was refused); an enhanced file
#: whose frames cannot be located is skipped as unsupported (it was a format error); 14: the
#: index and report files start with the SHA-256 of their JSON (a damaged file is rescanned); 15:
#: a file with a second pixel element right after the first is skipped as malformed; 16: GE files
#: record their protocol block's slice order, multiband factor and RTIA timer (GE SliceTiming);
#: 17: a file repeating an attribute is skipped as malformed; a mosaic count the slice times
#: contradict is refused; a skipped file names the SeriesInstanceUID read before its damage; 18:
#: an enhanced file whose native Pixel Data hold a whole frame or more beyond its stated frames
#: is skipped as malformed (its frames were located at the stated size); 19: a data set in the
#: other VR encoding than its transfer syntax says is read (it was skipped); a Deflated file's skip
#: names its SeriesInstanceUID; values are decoded by the VR they are written with; a value cut by
#: the end of the file is dropped (the file skipped as truncated); 20: a file with neither a
#: SOP class nor Pixel Data (cut in its file meta group) is skipped as truncated, not as a
#: non-image; 21: a gzip-compressed DICOM file's skip names the SeriesInstanceUID of its bounded
#: inflated start (it named none); 22: an enhanced file whose functional groups hold no
#: PixelSpacing takes its top-level one (it had none); 23: JPEG-family frames split over several
#: fragments with no usable offset table are located by their end markers (they were skipped);
#: 24: UIH GRID files give one record a tile; Philips (2005,1429) label/control, Canon
#: ImageComments directions and UIH (0065,1009)/(0065,1037) diffusion values are read; 25: ... and
#: one whose functional groups hold no ImageOrientationPatient takes its top-level one (refused);
#: 26: enhanced files' in-plane phase-encoding direction and Siemens XA polarity (0021,111C) are
#: read, and the frames of an enhanced file of several echo times carry their echo's EchoNumber; a
#: codestream wider than BitsAllocated or of other components than SamplesPerPixel is refused;
#: records say whether native pixel data hold non-zero bytes past the stated image (excess_data);
#: 27: GE phase-encoding elements ((0043,102A/102C/1083), (0018,1310/9034/9069/9081)) are read.
#: 28: records hold PatientID (0010,0020) (two patients' images under one SeriesInstanceUID split).
#: 29: an image without both standard diffusion attributes takes its direction from the vendor's
#: private ones (a GE 27 image stating (0018,9087) held none); the source names both attributes.
#: 30: GE epi_pepolar images say their mode (0019,109C)/(0019,10B3) and whether their rows are
#: stored reversed (``_ge_reversed``, from TemporalPositionIdentifier (0020,0100)).
#: 31: a complete file of a class without pixels (a structured report, spectroscopy, a vendor's
#: physiological log) is skipped as valid DICOM of an unsupported kind (it was as damage); an
#: image without PixelRepresentation (0028,0103) is skipped (it was read as unsigned).
#: 32: records hold the acquisition date and time (``acquisition_datetime``: AcquisitionDate +
#: AcquisitionTime, else AcquisitionDateTime; an enhanced frame's whole FrameAcquisitionDateTime);
#: a file with an attribute the scan reads right after its pixel element is skipped as malformed.
#: 33: records hold ConvolutionKernel (0018,1210) (two CT reconstructions of one series split).
#: 34: Philips records hold the real-world value mapping that replaces an identity rescale
#: (``philips_rwv``, as dcm2niix applies it; the values were the stored ones).
#: 35: a Philips enhanced frame without public ImagePositionPatient / ImageOrientationPatient takes
#: those of its private per-frame sequence (2005,140F), as dcm2niix does (the file was refused).
#: 36: every element after the pixel element is walked (within 64 KiB) for an attribute the scan
#: reads (35: the first only); a file of a class holding pixels cut before them is damage, not a
#: non-image (only classes known to hold none are).
#: 37: a Siemens mosaic without MosaicRefAcqTimes records its tiles' times from the protocol of its
#: CSA series header (sSliceArray.ucMode), read for such a mosaic only; GE files no longer record
#: their RTIA timer.
#: 38: the walk after the pixel element reads long-VR element headers (37 took them for short
#: ones and stopped behind the data set's trailing padding); a standard class that is no image
#: class holds no pixels (37 called some truncated images); a Philips mapping item of slope 0 is
#: none, its intercept too.
#: 39: UIH files record their phase-encoding polarity (0065,1058) (PhaseEncodingDirection).
#: 40: an image stating a diffusion value in both the standard and its vendor's attributes takes
#: the one dcm2niix takes (vendor.PRECEDENCE; 39 took the standard pair whenever it was complete).
#: 41: a remote header is read checked against its listing's stamp (40 saved, under that stamp, a
#: header read from another version of the object: a replacement between listing and read, a
#: cache answering HEADs, which a rollback to the listed version then served as current).
#: 42: Siemens XA files record their phase-encode bandwidth (0021,1153) (top level, or the
#: functional groups' (0021,11FE) sequence): EffectiveEchoSpacing / TotalReadoutTime.
#: 43: records hold the site, study and coil keys of the sidecar (InstitutionName ..., SAR,
#: AcquisitionMatrixPE, GE's ShimSetting ...; lazyvol.dicom.bids_extra).
#: 44: Siemens XA polarity / bandwidth read in the block "SIEMENS MR SDI 02" names
#: (lazyvol.dicom.xa_private).
#: 45: Siemens files record RealDwellTime (0019,1018), PATModeText and where their CSA series
#: header lies (its protocol is read once per volume for the sidecar).
#: 46: text values decoded with the file's Specific Character Set (45 read them as Latin-1).
#: 47: enhanced frames record their MRModifierSequence's parallel reduction factors.
#: 48: records hold the PET and CT values of the sidecar (lazyvol.dicom.bids_pet: tracer, units,
#: reconstruction, frame times, kernel, exposure).
#: 49: Siemens XA files record where their protocol text (0021,1019) lies.
#: 50: text inside the sequences the scan parses decoded with the file's character set.
#: 51: Siemens files record XA's PATModeText (0021,1009), RealDwellTime (0021,1142), coil
#: elements (0021,114F) and the coil name; every file the standard enhanced attributes (MTState,
#: PartialFourierDirection, ...).
#: 52: Siemens files record where their protocol text lies whatever its size (51: none past 16 MiB).
#: 53: a PixelSpacing of one value is read (for both axes, as dcm2niix reads it; 52: malformed);
#: a Siemens image's diffusion values from its CSA image header first (as dcm2niix reads them).
#: 54: an enhanced file whose Pixel Data has an undefined length under a native syntax is skipped
#: (53: its items were located as native frames); damaged headers skipped with reasons naming the
#: damage (a malformed TransferSyntaxUID, an implicit VR element of undefined length, a file cut
#: inside its Pixel Data element header).
#: 55: JPEG 2000, HTJ2K and JPEG-LS records hold the precision their first frame's codestream
#: states (``codestream_bits``, read at open).
#: 56: an image whose Modality LUT Sequence (0028,3000) holds no item is recorded, its rescale
#: applied as pydicom applies it (55 skipped it as holding a lookup table).
#: 57: GE records say when their series states no DTI directions ((0019,10E0) below 1: ``acq``
#: ``_ge_no_dti``), as their b > 0 images without a direction are trace images then.
#: 58: an image stating only AcquisitionDateTime (0008,002A) (an enhanced file whose frames state
#: no FrameAcquisitionDateTime) has its time of day as its AcquisitionTime (56: none).
#: 59: an enhanced frame's non-finite functional-group numbers (echo time, trigger delay, b-value,
#: direction, thickness, spacing) are unset and noted in its bad attributes, as the header reader
#: notes top-level ones.
#: 60: an enhanced MR file's PulseSequenceName (0018,9005) is read (its SequenceName where
#: (0018,0024) states none; ``acq["_sequence_name"]``, GE's (0019,109C) too, was
#: ``_ge_sequence_name``).
#: 61: an enhanced frame's PartialFourier (0018,9081) YES is kept (``acq["_partial_fourier"]``).
#: 62: a non-finite GE (0043,1039) b-value, CSA DiffusionGradientDirection or Canon comment direction
#: is noted in the record's bad attributes (the b-value was kept as NaN, the others dropped).
#: 63: a file whose PixelRepresentation (0028,0103) is present but empty is skipped, as a file
#: without it is (it was recorded as unsigned); an empty NumberOfFrames is noted as malformed.
#: 64: a malformed gradient direction of an image stating no b-value, or b = 0, is not a reason to
#: skip the file (the direction is not used; it was refused as corrupt diffusion).
#: 65: an empty or 0 NumberOfFrames (0028,0008) of a file whose native Pixel Data holds one frame
#: is one frame (``acq["_one_frame_taken"]``; it was -1 or 0 and refused).
#: 66: a malformed diffusion value the image states again where dcm2niix takes the other (a NaN
#: standard direction beside the CSA header's, ...) is not a reason to skip the file.
#: 67: an empty Rows, Columns, BitsAllocated or BitsStored is noted as malformed ("is empty"; it
#: was refused as "= 0").
#: 68: PhotometricInterpretation is recorded upper-cased (a lower-case spelling, non-conformant
#: CS, split its slices from the series).
#: 69: a negative diffusion b-value is noted as malformed and unset (it was recorded as stated);
#: Philips' private b-value is taken beside a standard one below 0 or NaN; an empty or 0
#: NumberOfFrames over one frame of packed bits (BitsAllocated 1) is one frame (then refused for
#: its BitsAllocated).
#: 70: PET records keep CorrectedImage (0028,0051), which splits AC from NAC images (h114).
#: 71: an enhanced frame keeps its file's ImageType (``file_image_type``) beside its FrameType,
#: and its CTReconstructionSequence's ConvolutionKernel (``convolution_kernel``, ``acq``); records
#: hold NumberOfAverages (0018,0083) and GradientEchoTrainLength (0018,9241) (``acq``); an
#: enhanced frame's RescaleSlope / Intercept / PixelSpacing / SliceThickness / SpacingBetweenSlices
#: that is not a number is noted in its bad attributes (it was read as absent) (h109).
#: 72: a file whose Manufacturer is empty or absent is Philips' when its private block (2001,0010)
#: is (its diffusion values, scalings and sidecar Manufacturer read as Philips', as dcm2niix).
#: 73: an enhanced frame whose file states no ImageType keeps [] as ``file_image_type`` (None
#: gave its FrameType to the sidecar; h115).
#: 74: a record's ``acq`` holds ImageType's text as written (``_image_type_text``) where
#: stripping its values changes it (the spaces dcm2niix keeps; h118).
#: 75: ... and where a NUL inside it ends the text dcm2niix reads ('N<NUL>D' is 'N'; h119).
#: 76: a file without BitsStored is skipped with a message naming the attribute as missing
#: (it said '= 0'; h123).
#: 77: an empty RescaleSlope / RescaleIntercept (0028,1053 / 1052), top-level or in a frame's
#: PixelValueTransformationSequence, is noted in the bad attributes (it was read as 1 / 0; h121).
#: 78: the refusal of a malformed RescaleSlope / RescaleIntercept names the fix (dcmodify).
#: 79: a record's text values (``acq``, SeriesDescription) end at their first NUL, as dcm2niix
#: reads them (h120).
#: 80: a mosaic record refused for pixel data cut short names the remedy (its stored text).
#: 81: GE's delay after slice group (0043,107C) read as the binary FL it is (read as text, cut at
#: its first NUL since 79, 0.5 was no delay and SliceTiming was written).
#: 82: a record's text read by the header reader (Modality, Manufacturer, dates, ...; UIDs
#: kept whole) ends at its first NUL, as dcm2niix reads it (h128).
#: 83: a Philips record's ``acq`` holds its WaterFatShift (2001,1022), and its EPI factor
#: (2001,1013) as EchoTrainLength where (0018,0091) states none (h129).
#: 84: a Siemens record's ``acq`` holds its TimeAfterStart (0021,1104) (h129).
#: 85: an enhanced file whose DimensionIndexSequence has an empty pointer is read, not skipped (h136).
#: 86: a GE record's ``acq`` holds its delay after slice group (0043,107C) in seconds (h134).
#: 87: XA private text of an enhanced file's groups, and the polarity (0021,111C), end at a NUL (h134).
#: 88: text numbers (DS / IS) and other non-UID text the header reader parses end at a NUL (h134).
#: 89: a Philips record keeps its EPI factor (2001,1013) apart, taken as the echo train once an
#: enhanced file's functional groups are merged (their EchoTrainLength 0 hid it; h132).
#: 90: GE's HyperBand factor (0043,10B6) read as its leading whole number, as dcm2niix (h132).
#: 91: GE records keep the stated RepetitionTime (ms) where a group delay is added (h137).
#: 92: records keep a repaired ImageOrientationPatient's stated values (stated_iop) (h137).
#: 93: records keep the slice and time point counts their headers state (stated_counts) (h144).
#: 94: an enhanced frame keeps the file's top-level SliceThickness / SpacingBetweenSlices where its
#:   Pixel Measures state none (h144).
#: 95: ImagePositionPatient / ImageOrientationPatient / PixelSpacing holding more values than the
#: standard's count, the extra ones empty or numbers, read by their leading values (h142).
#: 96: a record's ``acq`` says whether its file states Exposure (0018,1152) (``_x_ray``; h142).
#: 97: ``_x_ray`` only where no EchoTime (0018,0081) but 0 is stated beside Exposure, as dcm2niix (h146).
#: 98: an empty element written with another VR than the dictionary's is noted empty only (h147).
#: 99: records keep Spoiling (0018,9016), top level or MRModifierSequence (``_spoiling``; h160).
#: 100: records keep a concatenation part's ConcatenationUID / InConcatenationNumber /
#: InConcatenationTotalNumber / ConcatenationFrameOffsetNumber (``_concatenation``; h160).
#: 101: an enhanced frame stating a B-matrix (DiffusionDirectionality BMATRIX) has its direction (h160).
#: 102: frames of a Philips enhanced file of several kinds say so (``_kinds_apart``; h160).
#: 103: an enhanced Siemens frame keeps its TimeAfterStart (0021,1104) from (0021,11FE) (h160).
#: 104: an enhanced frame stamped by FrameAcquisitionDateTime keeps its file's (``file_acquisition``; h161).
#: 105: Siemens records hold TablePosition (CSA / (0021,1005) / (0019,1014) ImaRelTablePosition) (h159).
#: 106: a ZIP / 7z / RAR archive is skipped as one, saying to extract it (h162).
#: 107: an enhanced frame's TimeAfterStart is its own, never the first frame's (h164).
#: 108: an enhanced Siemens frame holds TablePosition from XA's (0021,1005) of (0021,10FE) (h164).
#: 109: records note an AcquisitionDateTime date dcm2niix does not read (``_sidecar_undated``; h165).
#: 110: a file of 1-131 bytes is skipped as "not a DICOM file (too short: ...)", an emptied slice (h177).
#: 111: an enhanced file of a BitsAllocated lazyvol does not read is skipped naming it (h172).
#: 112: records note an AcquisitionDate dcm2niix reads and lazyvol does not (``_sidecar_dated``; h171).
#: 113: records note '_sidecar_undated' where C's atof reads a nonzero AcquisitionDate or Time, as dcm2niix (h181).
#: 114: a file stating no Manufacturer records PATModeText and the CSA TablePosition, as dcm2niix reads them (h181).
#: 115: a GE record's in-plane acceleration takes (0018,9069) above 1 and above ASSET's, as dcm2niix (h192).
#: 116: records read a top-level InversionTimes (0018,9079) as InversionTime, as dcm2niix (h192).
#: 117: Siemens records read ParallelReductionFactorInPlane (0018,9069) above 1, as dcm2niix (h192).
#: 118: records read a top-level TransmitterFrequency (0018,9098) as ImagingFrequency, as dcm2niix (h192).
#: 119: an enhanced Siemens frame's in-plane reduction factor of 1 is none, as dcm2niix (h192).
#: 120: NM reconstructions (SPECT, RECON TOMO) give one record per slice (lazyvol.dicom.nm_tomo).
#: 121: an enhanced file's compressed frames are located by its Extended Offset Table (h195).
#: 122: a file of one-byte frames (one 8-bit pixel) with the pad byte of its odd length is read (h195).
#: 123: a Basic Offset Table of another count than the frames is passed over as damaged (h195).
#: 124: a file that is an HTML page is skipped saying so (h194).
#: 125: records read a top-level EffectiveEchoTime (0018,9082) as the echo time, as dcm2niix (h196).
#: 126: Siemens records read CSA diffusion of any image whose CSA header gives B_value an item (h196).
#: 127: Siemens records hold MatrixCoilMode "None" for an acceleration of ucPATMode 0 / other / none (h196).
#: 128: records name the Manufacturer by its first two letters, as dcm2niix ("MR Solutions" -> MRSolutions) (h196).
#: 129: UIH records hold PhaseEncodingDirectionDisplayed (0065,1005), as dcm2niix reads it (h196).
#: 130: Siemens records read the CSA phase polarity and bandwidth of images whose header is not parsed (h196).
#: 131: a damaged header's skip names the SeriesInstanceUID its raw bytes hold (h197).
#: 132: a one-frame NM reconstruction is placed by its detector item (h198).
#: 133: records read the NM frame vectors (one gate of a gated reconstruction opens) (h198).
#: 134: an NM FrameIncrementPointer written with VR UL is read (h198).
#: 135: an NM SliceVector naming a slice twice is the file's skip reason (h198).
#: 136: NM detector items (one per head) that agree place the slices (h198).
#: 137: a one-frame NM file is placed by its SliceVector too, or keeps its own position (h198).
#: 138: a one-frame NM file of no SliceVector keeps its top-level position (h198).
#: 139: an NM file of NumberOfFrames < 1 is skipped as a corrupt header (h198).
#: 140: Deflated Explicit VR Little Endian files are read (records hold ``deflated``: where their
#: deflate stream starts, their pixel offsets counted in inflated bytes); they were skipped.
#: 141: a damaged functional group's skip names its sequence, item and element (h202).
#: 142: a mosaic / NM reconstruction whose stated spacing puts its slices at one position is
#: refused naming the spacing (it was refused as positions repeating, a mixed acquisition; h202).
#: 143: an image stating a RescaleIntercept but no RescaleSlope says so in ``acq`` (h205).
#: 144: a gzip-compressed DICOM file's skip reason names the SOPInstanceUID of its inflated start.
#: 145: a mosaic stating no SpacingBetweenSlices reads its CSA series header: its tiles are placed
#: by the protocol's slice positions where they are its own (tile 0's ``acq["_spacing_from"]``).
#: 146: a header whose reading ended before its image attributes while the file holds its Pixel
#: Data further on is skipped as damaged (a wrong element length), not as truncated (h207).
#: 147: an implicit VR file skipped for an element of undefined length is skipped as damaged,
#: naming the SeriesInstanceUID its bytes hold, so its series is flagged incomplete (h207).
#: 148: a mosaic's protocol slice positions that are uneven or repeated are recorded with why
#: they were not used (tile 0's ``acq["_spacing_from"]``; the note said nothing) (h208).
#: 149: an enhanced file whose native Pixel Data length runs past the end of the file is skipped
#: saying so (it was an excess the dimensions were blamed for, or read when 2 bytes past).
#: 150: an enhanced file's top-level RescaleSlope / RescaleIntercept that is not a number is
#: not noted in frames whose PixelValueTransformationSequence states their own (unused).
#: 151: an enhanced file whose functional groups sequence has another VR than SQ is skipped
#: naming it (it was an AttributeError's words, or hundreds of items counted).
#: 152-156 (h212): layout values of no whole number not empty; cut Deflated streams skipped; two
#: pixel elements named; '1_0' numbers malformed; Pixel Data written with VR OF/OD is integers.
#: 157: a GE file's first and last scan locations (0019,1018)-(0019,101B) are read (the end a
#: renumbered series' SliceTiming runs from) (h213).
#: 158: a GE file's delay after slice group (0043,107C) left empty is recorded as stated (as
#: dcm2niix reads it), told apart from one absent (h213).
#: 159: a GE file's protocol imaging options naming fMRI or multiphase (IOPT) are recorded (h213).
#: 160: an enhanced file's functional-group DS / IS numbers written with a digit separator ('1_0',
#: which pydicom's float reads as 10) are malformed, as top-level ones are since 155.
#: 161: the same for the positions of an NM reconstruction's DetectorInformationSequence and of a
#: UIH GRID's MR VFrame Sequence items (the file is refused naming them).
#: 162: numbers of Siemens CSA items, GE protocol and private values, Siemens private IS elements,
#: the UIH GRID count, the NM SliceVector and sidecar values are judged by records.number ('1_0'
#: is no number); a CSA header with one item Python cannot convert is read item by item; an empty
#: GE DELACQ states no delay; a private b-value that is no number beside a direction is malformed
#: (h219). A Deflated file cut past its pixels, pixels only in a private (7FE1,xx10) element and
#: Pixel Data only inside a sequence item get skips of their own; each compressed frame's
#: codestream precision is recorded (h218). A CSA header with a non-empty item past an element's
#: value count is read item by item, not refused (h224).
INDEX_VERSION = 162
