"""The version of the grouped DICOM scan report (:mod:`.saved_scan`) and of the cache keys of
DICOM sources (:mod:`lazyvol.cache_keys`): ``REPORT_FORMAT``. A saved report of another version is
not read (the folder is grouped again), so any change to a stacking result, note or sidecar value
bumps it by one, with a comment line below saying why (its history, newest last). The per-file
records' version, ``INDEX_VERSION``, is :mod:`.scan_versions`'s."""

from __future__ import annotations

__all__ = ["REPORT_FORMAT"]

#: Layout of a report: 2: files named by their listing position, identities taken from the listing;
#: 3: a volume's files may differ in pixel encoding (each frame's, ``encodings``), where 2 split them;
#: 4: ... and in BitsStored (each frame's, ``stored_bits``), where 3 split them;
#: 5: ... and in BitsAllocated/PixelRepresentation (each frame's ``stored_types``), where 4 split them;
#: 6: MONOCHROME1 and MONOCHROME2 images stack; images whose ImageType contradicts their
#: ComplexImageComponent or GE (0043,102F) are split off (grouping rules a saved report holds);
#: 7: GE diffusion directions turned into LPS by dcm2niix's rule (6 held mirrored ones); no gantry
#: tilt within the written orientation's precision; InstanceNumber gaps over the whole series.
#: 8: ORIGINAL and DERIVED single-frame images of one series are split; images with a Modality
#: LUT Sequence are skipped (index 10); a warning when a time rule's volume order contradicts
#: InstanceNumber; Philips images with a scale slope say which scaling their values are in.
#: 9: enhanced files of one frame read through their functional groups (index 11); the Philips
#: note's wording; frames without geometry named as frames.
#: 10: float pixel data read (index 12); enhanced volumes sorted by DimensionIndexValues in
#: dcm2niix's order (9 sorted by the first listed dimension). 11: copies of one SOPInstanceUID
#: in different places (position, orientation, spacing, frame of reference) are a conflict, not
#: duplicates. 12: one SeriesInstanceUID of several SeriesNumbers is split by them; repeated
#: frame positions of one file without a label are refused; Philips scaling judged per echo;
#: a folder of only refused volumes raises their refusals; GE SliceTiming (index 16); 13: the
#: damaged files that name no series ("unnamed"), which every series beside them may miss.
#: 14: a stack with missing slices is on the grid of the step every step is a whole multiple of
#: (the median of the steps was taken for it, refusing such stacks as uneven); uneven spacing is
#: refused against the most common step. 15: a volume split from its series says what tells it
#: apart (``this volume: ...``); messages count an enhanced file's frames as frames of one file;
#: derived diffusion volumes (b > 0, zero gradient) are flagged. 16: a GE image with a b-value
#: but no gradient direction is a b = 0 image (as dcm2niix writes it). 17: Canon/UIH diffusion
#: tables, a missing b-value read as 0 (``no_bvalue``), ASLContext, ProtocolName/EchoNumber in the
#: BIDS values, SliceTiming of UIH series, UIH GRID tiles. 18: a volume's diffusion values and
#: ASL kind come from the images that state them, which must agree (an image stating none no
#: longer hides a mixed volume); a UIH b = 0-only series has no table. 19: a sheared stack's
#: lean (``shear_deg``), a gantry tilt only for a gantry's lean; orientations a cosine more than
#: 1e-4 apart (18: 1e-3) are split, as dcm2niix splits them, or, written coarsely, more than one
#: step of their last decimal; a volume's orientation is the one most of its files state (18: its
#: first file's); a zero written ``2.07e-013`` no longer hides a gantry tilt; an orientation off
#: orthonormal beyond its written rounding (18: 1e-2) is refused. 20: BIDS values as dcm2niix
#: writes them: GE PhaseEncodingPolarityGE / PhaseEncodingDirection / EffectiveEchoSpacing /
#: TotalReadoutTime, ReconMatrixPE for every MR volume, no phase-encoding axis in 3D but EPI;
#: EchoTrainLength only above 1; ImageType split at "_" with the image kind appended.
#: 21: copies of one SOPInstanceUID no decoder here can compare are refused as unsupported (asking
#: for the decoder), and a scan holding such a refusal is not saved (it was, as "remove one").
#: 22: one SeriesInstanceUID's images of two studies or patients are split (stacked as a 4th axis
#: before); images repeating others' headers are called copies only when their pixels agree.
#: 23: a diffusion b-value and direction come from the attributes that state them (a standard
#: b-value hid the vendor's private direction: zero vectors, flagged derived); sources name both.
#: 24: diffusion directions are unit vectors; a GE / Canon image-frame gradient shorter than unit
#: (a multi-shell series' lower shell) scales its b-value to b |g|^2 (``shell_scaled``).
#: 25: GE epi_pepolar volumes of reversed polarity are split off, their rows read in reverse
#: order (``FrameTable.flip_rows``) and their polarity reversed (stacked as stored before).
#: 26: volumes acquired across midnight ordered by date and time (25 put the ones after midnight
#: first); undated times of day spanning more than 12 h order no volumes.
#: 27: images of one SeriesInstanceUID stating different ConvolutionKernels (0018,1210) are split
#: (two CT reconstructions were a 4th axis ordered by InstanceNumber).
#: 28: one date on every image of a set whose times of day span more than 12 h tells no day: the
#: set is judged as undated (27 ordered it by that date, the volumes after midnight first).
#: 29: SliceTiming by dcm2niix's rules (lazyvol.dicom.slice_timing): none for 3D acquisitions or
#: CT/PET, none outside [0, TR) (a mosaic's corrupted first volume gives way to its second), none
#: when every slice has one time; GE's from its protocol whatever its RTIA timer says.
#: 30: messages name a mosaic's or GRID's tiles ("tile 4 of F"; 29 named the file alone, twice
#: for a gap between two tiles of one file) and do not advise removing files for such a gap.
#: 31: sidecar values as this release writes them (ImageOrientationPatientDICOM printed as
#: dcm2niix prints it; protocol codes whole numbers only; no estimates for an unread protocol);
#: positions on a grid finer than twice their apparent rounding compared strictly (30 took a
#: fine grid written exactly, 0.1 mm apart, for a 0.1 mm rounding and absorbed a missing slice).
#: 32: series whose PixelSpacing holds one value open (taken for both axes), with a note.
#: 33: a series of files one volume each (mosaic, enhanced) whose InstanceNumbers skip numbers
#: has a note naming the missing ones (a time point may be missing).
#: 34: InstanceNumber gaps are numbers no image of the SeriesInstanceUID holds (a complete
#: multi-echo or magnitude/phase series was said to have gaps: the other volume's numbers).
#: 35: a series numbering each volume on its own (its numbers repeating across its files) notes
#: each volume's own InstanceNumber gaps (34 took the other volumes' numbers as held).
#: 36: exact duplicates dropped the same way are one note naming the first copies (a note a file).
#: 37: PET volumes ordered by FrameReferenceTime (0054,1300) (36: by InstanceNumber, or refused as
#: another export's images); a refusal names a time attribute that varies at a position; the
#: InstanceNumber gap note of a stack with slices filled (allow_gaps) names them (36: "regular").
#: 38: a volume of JPEG 2000, HTJ2K or JPEG-LS frames whose codestreams hold wider samples than
#: BitsStored has a dtype holding them (``decoded_bits``; 37 wrapped them into BitsStored's).
#: 39: RLE files whose frames hold other byte planes (segments) than SamplesPerPixel x
#: BitsAllocated / 8 are refused at open (38 opened them, to fail when read).
#: 40: positions written coarsely are compared with the grid through the first and last slices
#: (a regular stack 39 refused opens).
#: 41: slices stating different SliceThickness values are noted (a warning); the sidecar leaves
#: SliceThickness out then.
#: 42: the volumes of one SeriesInstanceUID are listed by what tells them apart (split key values,
#: index on a split 4th axis, id), no longer by their first file's name.
#: 43: a split_4d volume's meta holds its own per-volume lists (diffusion table, PET frames) and
#: echoes (echo_times, echo_numbers, bids EchoTime/EchoNumber), as vol[..., t] cuts them.
#: 44: FrameReferenceTime (0054,1300) and TriggerTime (0018,1060) stated per image (a few ms
#: later each slice or bed) order the volumes when they rank every position alike (41: the
#: InstanceNumber rank, no word said); volume orders the headers contradict are Python warnings.
#: 45: positions written to whole millimetres (halves, fives) are compared within that rounding
#: (44 took them as exact: a 1.2 mm stack written to whole mm was 2 slices missing).
#: 46: SliceThickness values within float32 noise of each other (1.5, 1.49999988079071) are one
#: thickness: no note (45 said the slices differed).
#: 47: a GE trace image (b > 0, no direction) of a series stating no DTI directions ((0019,10E0)
#: 0) keeps its b-value and is flagged derived (46 made it b = 0; a b = 0 + trace series had no
#: diffusion table).
#: 48: a Philips volume's sidecar holds PhilipsRescaleSlope, PhilipsRescaleIntercept,
#: PhilipsScaleSlope and UsePhilipsFloatNotDisplayScaling (its first image's, as dcm2niix).
#: 49: a split by image kind names GE's image kind (0043,102F) beside the standard attributes.
#: 50: a Siemens diffusion series' sidecar holds DiffusionScheme (sDiffusion.dsScheme), as dcm2niix.
#: 51: an image stating only AcquisitionDateTime (0008,002A) has that time as its AcquisitionTime
#: (the sidecar's AcquisitionTime, as dcm2niix's; 46 wrote none).
#: 52: the volumes of an enhanced file of several echo times list dcm2niix's echo numbers
#: (echo_numbers, axis4_values EchoNumbers), so an echo cut from them has its EchoNumber.
#: 53: a non-finite DiffusionBValue / DiffusionGradientOrientation refuses its volume (FormatError).
#: 54: Philips sidecar keys from one implementation: PhilipsRWVSlope / Intercept added to 48's
#: (PhilipsRescaleSlope / Intercept,
#: PhilipsScaleSlope, UsePhilipsFloatNotDisplayScaling), as dcm2niix writes them.
#: 55: enhanced MR sidecars: SequenceName from PulseSequenceName (0018,9005), ImagingFrequency
#: from TransmitterFrequency (0018,9098), PercentPhaseFOV / PercentSampling from
#: MRFOVGeometrySequence, as dcm2niix reads them.
#: 56: a Philips enhanced partial-Fourier volume's PhaseEncodingSteps is written as
#: PhaseEncodingStepsNoPartialFourier with PartialFourierEnabled, as a classic one's.
#: 57: meta["volume_acquisition"] (each volume's AcquisitionTime / AcquisitionNumber), so a volume
#: cut along t states its own in the sidecar (56: the whole series' first).
#: 58: a spacing_atol of half the slice spacing or more refuses the stack (error kind "option").
#: 59: a non-finite private / CSA / Canon-comment diffusion value refuses its volume (was b = 0 or
#: no direction; a Philips image of them was split off as a trace image).
#: 60: an MR 4D volume whose volumes are not evenly spaced in acquisition time carries a warning
#: saying so (a missing or re-acquired volume, two runs sharing a SeriesInstanceUID).
#: 61: the refusal of a series whose last volume was cut short (an interrupted acquisition) names
#: that volume's files and the remedy.
#: 62: the refusal of a mosaic without its CSA header says the private elements were removed.
#: 63: a 4D order by a time label (AcquisitionNumber, ...) that AcquisitionTime contradicts at
#: every position is a warning.
#: 64: a series whose first images are lost is no longer refused as an interrupted last volume;
#: the uneven-volume-time note names a timing by design among its causes.
#: 65: a series whose NumberOfFrames (0028,0008) is empty or 0 on one-frame native files opens
#: (meta "number_of_frames_source"), where it was refused.
#: 66: a series whose malformed diffusion value is one dcm2niix does not take (the CSA header's,
#: or the vendor's by PRECEDENCE, stated beside it) opens, where it was refused.
#: 67: a negative b-value refuses its series (it went to the .bval); a Philips series whose standard
#: b-value is NaN or below 0 beside its private one opens with the private one, as dcm2niix.
#: 68: meta["volume_acquisition"]["resolution"] (each volume's AcquisitionTime resolution), so a
#: cut's uneven-time check takes the written digits, as at open.
#: 69: instance_order=True past a missing PixelSpacing keeps the slices' stated positions (it
#: stacked them by InstanceNumber, mirrored when numbered against them; h114).
#: 70: instance_order=True past missing positions takes slice 0's place and the step from the
#: positions stated (the first file by name gave the origin, +normal the step; h114).
#: 71: the refusal of positions repeating unevenly says what to do (it named only causes; h114).
#: 72: PET images with and without attenuation correction (CorrectedImage), or in other Units or
#: of another ReconstructionMethod or DecayCorrection, under one SeriesInstanceUID are split,
#: not a 4D (h114).
#: 73: an enhanced volume's sidecar ImageType / NonlinearGradientCorrection come from the file's
#: ImageType (0008,0008), as dcm2niix's (68: from the first frame's FrameType (0008,9007)); an
#: enhanced CT's ConvolutionKernel (CTReconstructionSequence) is written and splits volumes;
#: NumberOfAverages above 1, and GradientEchoTrainLength above 1 as EchoTrainLength, as dcm2niix;
#: an enhanced frame's rescale that is not a number refuses its volume (it took the file's value)
#: (h109).
#: 74: a single-echo volume whose EchoNumbers is above 1 (a phase-difference series) has its
#: EchoNumber in meta["bids"], as dcm2niix writes it.
#: 75: NonlinearGradientCorrection (from ImageType ND / DIS2D / DIS3D) for every vendor, not
#: Siemens only (h108).
#: 76: a Philips file without Manufacturer (its private block (2001,0010) Philips') reads as Philips'.
#: 77: an interrupted last volume is named where InstanceNumbers run slice by slice and a volume
#: label says the earlier volumes are whole (the refusal's text).
#: 78: report.skipped holds each exact duplicate dropped from a volume (a saved report had none).
#: 79: a volume without SeriesInstanceUID whose InstanceNumbers repeat where no position does
#: carries a "several series may be stacked as one" note.
#: 80: NonlinearGradientCorrection by dcm2niix's text rule (_ND / _DIS2D / _DIS3D in the
#: "_"-joined ImageType, case as written, _ND winning), not by whole upper-cased values (h115).
#: 81: an enhanced file without ImageType (0008,0008) has no sidecar ImageType or
#: NonlinearGradientCorrection, as dcm2niix (its first frame's FrameType gave them; h115).
#: 82: PET Units / ReconstructionMethod / DecayCorrection compared upper-cased, runs of spaces as
#: one, before they split a series (a spelling split one reconstruction in two).
#: 83: no "several series may be stacked as one" note (79) when every file states one
#: InstanceNumber (an anonymiser's constant).
#: 84: sidecar ImageType / NonlinearGradientCorrection from ImageType's text with the spaces
#: around its values kept, as dcm2niix reads it (' ND' is no '_ND'; h118).
#: 85: a PET frame without Units / ReconstructionMethod / DecayCorrection / CorrectedImage
#: splits nothing alone again (82 upper-cased the 'missing' placeholder; h118).
#: 86: sidecar ImageType cut at a NUL inside a value, and an ImageType of blanks written, as
#: dcm2niix (h119).
#: 87: sidecar text values and the series description end at their first NUL, as dcm2niix
#: (h120).
#: 88: instance_order=True past a missing position refuses stated positions off the numbered
#: stack (a 4D series, a gap) where it stacked them evenly (h120).
#: 89: a time series or DWI with some volumes at another EchoTime / EchoNumbers (positions repeating
#: within some echoes only) is one volume per echo, as dcm2niix writes it (was one 4D volume).
#: 90: a series of b = 0 volumes only whose ImageType says DIFFUSION (not GE's) has a diffusion
#: table of zeros, as dcm2niix writes its .bval/.bvec (it had none).
#: 91: the refusal of evenly repeated positions no rule orders says when a label splits them into
#: runs under one SeriesInstanceUID, and to move each run to a folder of its own.
#: 92: the InstanceNumber gap note of a one-file-a-slice 4D series missing as many numbers as
#: whole volumes names them and the missing time point.
#: 93: a volume of multi-image files (mosaic) numbered the same several times over carries a
#: "several series may be stacked as one" note (runs under one SeriesInstanceUID).
#: 94: the refusal of a file whose pixel data were cut short names the remedy (copy it again, or
#: move it out of the folder to open its series without it).
#: 95: an empty RescaleSlope / RescaleIntercept in every file of a volume is read as absent (1 / 0)
#: where it refused the series; empty in some files only, still refused (h128).
#: 96: sidecar Modality (and the MR keys it gates) end at a NUL as dcm2niix (h128).
#: 97: sidecar PulseSequenceType (every vendor) and a Siemens one-file-per-slice series'
#: MultibandAccelerationFactor from its SliceTiming, as dcm2niix writes them (h129).
#: 98: Philips sidecars: WaterFatShift, EstimatedTotalReadoutTime, EstimatedEffectiveEchoSpacing,
#: and EchoTrainLength from the EPI factor (2001,1013), as dcm2niix writes them (h129).
#: 99: Siemens XA classic SliceTiming from TimeAfterStart (0021,1104), none from AcquisitionTime,
#: as dcm2niix (h129).
#: 100: GE sidecars: MultibandAccelerationFactor from the HyperBand factor (0043,10B6) (h129).
#: 101: the echo split runs after the derived / trace / polarity / copy splits: two echoes of one
#: volume with a copy of one echo stay one 4D volume (keys of groups split by both change; h131).
#: 102: a b = 0-only series' table of zeros needs ImageType's DIFFUSION as dcm2niix reads it (h131).
#: 103: an enhanced file's frames at another echo time in some volumes only are not split off (h131).
#: 104: the missing-volumes note names each run of missing numbers (6..10, 16..20), not 6..20 (h131).
#: 105: sidecar values dcm2niix holds as C floats printed from their float32 value with %g (h136).
#: 106: GE RepetitionTime adds a delay after slice group (0043,107C) above 0, as dcm2niix (h134).
#: 107: the sidecar keys of XA enhanced private text (DwellTime, coil elements, PAT) end at a NUL (h134).
#: 108: EchoTime, SliceThickness, RescaleSlope ... written with a NUL inside read up to it (h134).
#: 109: Siemens TimeAfterStart slice times for XA series of more than one volume only, the second
#: volume's when the first's are corrupted; a series with it and not so has none, as dcm2niix (h132).
#: 110: PulseSequenceType for any modality stating a ScanningSequence (CT, PET), as dcm2niix (h132).
#: 111: Philips enhanced files whose functional groups state EchoTrainLength 0 take the EPI factor (h132).
#: 112: GE MultibandAccelerationFactor from the HyperBand text's leading whole number (h132).
#: 113: no sidecar FlipAngle, PixelBandwidth, field strength, thickness, spacing, TE/TR/TI or
#:   ImagingFrequency at or below 0 (nor a frequency in Hz); ImagingFrequency printed %.10g (h137).
#: 114: GE's group delay added to the stated TR, not the sidecar's rounded one (h137).
#: 115: one echo's EchoTime (vol[..., e], a per-volume cut) from its float32 value (h137).
#: 116: ImageOrientationPatientDICOM as stated, not as made orthonormal (h137).
#: 117: a volume short of the slices or time points its series states is noted incomplete (h144).
#: 118: an enhanced file's top-level SpacingBetweenSlices / SliceThickness in its sidecar (h144).
#: 119: geometry attributes with extra trailing values are read by their leading ones, noted (h142).
#: 120: no SliceThickness / SpacingBetweenSlices / EchoTime where Exposure is stated, as dcm2niix (h142).
#: 121: the order warning on PET frames ordered by TriggerTime (gated) names dcm2niix's ImageIndex order (h142).
#: 122: single-frame echoes at distinct positions (slices alternating between echoes) are one
#: volume per echo, as dcm2niix writes them; they were interleaved along k (h146).
#: 123: an image stating EchoTime and Exposure keeps SliceThickness / SpacingBetweenSlices / EchoTime (h146).
#: 124: no NumberOfTemporalPositions note on a 3-D volume (one time point a series may hold alone) (h145).
#: 125: an empty file is noted on a volume only where its name's numbers fit the volume's (h145).
#: 126: the stated-count notes name the file stating the count and the folder to check (h145).
#: 127: no NumberOfTemporalPositions note on a 4-D volume of echoes or b-values (one time point) (h145).
#: 128: an empty file fits a volume's numbering when one of its differing numbers is near theirs (h145).
#: 129: an empty element written with another VR than the dictionary's is noted empty only (h147).
#: 130: echoes told apart by EchoNumbers at distinct positions are one volume per echo also where
#: one echo holds a single position; they were stacked as one volume, echoes mixed along k (h150).
#: 131: single-frame echoes of one volume not at the same positions (a file missing from one echo)
#: are one volume per echo; the series was one group, refused for positions repeating unevenly (h150).
#: 132: echoes told apart by EchoNumbers sharing positions beside another echo elsewhere are one
#: volume per echo; the split wanted a position common to every echo, the series was refused (h152).
#: 133: echoes at positions within the stacking's same-position tolerance share them (h155).
#: 134: a volume whose slices differ in EchoTime is warned of, each value with its count (h155).
#: 135: the missing-UID 'several series' note takes positions within that tolerance as one (h155).
#: 136: a RescaleSlope / RescaleIntercept below float32's smallest normal number scales into
#: float64 (float32 read the values as zeros).
#: 137: sidecar SpoilingState / SpoilingType from Spoiling (0018,9016) or SequenceVariant SP, as dcm2niix (h160).
#: 138: a volume holding frames of a concatenation missing a part (stated total, frame offsets) is noted (h160).
#: 139: .bvec of enhanced B-matrix frames from the matrix; they were flagged derived traces (h160).
#: 140: an interrupted last volume whose images are frames of a file holding complete volumes too is
#: not told to move them out of the folder (h160).
#: 141: the EchoTime warning of an enhanced file's frames says dcm2niix keeps them in one volume (h160).
#: 142: ImageType of a kind of a Philips enhanced file of several kinds as dcm2niix writes it (h160).
#: 143: SliceTiming of enhanced Siemens files from their frames' TimeAfterStart, as dcm2niix (h160).
#: 144: no sidecar AcquisitionTime without the acquisition's date outside PET, as dcm2niix (h161).
#: 145: an enhanced file's sidecar AcquisitionTime is the file's, not its frames', as dcm2niix (h161).
#: 146: each echo of a multi-echo time series is checked against NumberOfTemporalPositions (h161).
#: 147: the sidecar AcquisitionTime is the first image's (lowest InstanceNumber) of the earliest volume, as dcm2niix (h161).
#: 148: Siemens sidecars write TablePosition, as dcm2niix (h159).
#: 149: a volume whose images state different TR / TI / flip angle values is noted (h159).
#: 150: localizer images set apart one a volume say so, with stack_localizers=True (h162).
#: 151: the TR / TI / flip angle note on an enhanced file's frames says dcm2niix keeps them in one volume (h164).
#: 152: a concatenation part of one frame groups with the other parts of its image (h164).
#: 153: an enhanced frame's sidecar values are never completed with another frame's (h164).
#: 154: XA enhanced sidecars write TablePosition from the functional groups, as dcm2niix (h164).
#: 155: images stating no echo are no echo of _one_echo's per-echo count (a TypeError on them) (h165).
#: 156: no sidecar AcquisitionTime from an AcquisitionDateTime date dcm2niix does not read (h165).
#: 157: an echo at time points of its own (M0 at another TE) is not noted short of the stated count (h165).
#: 158: an enhanced frame's sidecar values are completed with its file's, but for its own
#:      TimeAfterStart and echo number (a RepetitionTime some frames state is written) (h169).
#: 159: an echo is counted per echo only where a stamp telling time points apart is shared (h169).
#: 160: an AcquisitionTime of 000000 gives no sidecar time (AcquisitionDateTime's undated) (h169).
#: 161: PixelSpacing values 1e-4 (relative) apart are one spacing, not split (h176).
#: 162: an exact grid with one slice moved is no rounding to halves: refused, not opened (h176).
#: 163: no InPlanePhaseEncodingDirection: ReconMatrixPE, EffectiveEchoSpacing, TotalReadoutTime as dcm2niix (h171).
#: 164: sidecars of DERIVED images write RawImage false, as dcm2niix (h171).
#: 165: an MR / CT AcquisitionDate no calendar date but a number to dcm2niix gives a sidecar time (h171).
#: 166: a stack written to halves whose values pass from one progression to the next opens again (h178).
#: 167: a split's reasons show PixelSpacing spellings one rounding apart as one value (h178).
#: 168: RawImage reads DERIVED in the ImageType text dcm2niix keeps (cut after 65 characters) (h181).
#: 169: no sidecar time from AcquisitionDateTime beside a negative date / malformed nonzero time (h181).
#: 170: Philips EstimatedTotalReadoutTime only with a ReconMatrixPE, as dcm2niix (h181).
#: 171: DerivedVendorReportedEchoSpacing for every vendor; no-Manufacturer Siemens keys, as dcm2niix (h181).
#: 172: an exact whole-millimetre grid with slices moved is no rounding: refused, not opened (h186).
#: 173: an exact grid with five or more slices moved 0.5 mm is no rounding to halves either (h186).
#: 174: an exact grid on ties rounded half to even (-38, -32, -28 ... of -37.5 + 5 k) opens again (h188).
#: 175: positions of a series partly rewritten to fewer decimals compared within that rounding (h189).
#: 176: GE ParallelReductionFactorInPlane / EffectiveEchoSpacing with (0018,9069) above ASSET's (h192).
#: 177: InversionTime from a top-level InversionTimes (0018,9079), as dcm2niix (h192).
#: 178: a Siemens file's (0018,9069) where its protocol states no acceleration, as dcm2niix (h192).
#: 179: ImagingFrequency from a top-level TransmitterFrequency (0018,9098), as dcm2niix (h192).
#: 180: no Siemens enhanced ParallelReductionFactorInPlane of 1, as dcm2niix (h192).
#: 181: NM reconstructions (SPECT) open as volumes, located by the NM Image IOD's rules.
#: 182: frames located by an Extended Offset Table (7FE0,0001) change a volume's pixels (h195).
#: 183: files of one-byte frames with their pad byte are read, no longer skipped (h195).
#: 184: files whose Basic Offset Table has another count than their frames open (h195).
#: 185: a file that is an HTML page is skipped saying so (h194).
#: 186: EchoTime from a top-level EffectiveEchoTime (0018,9082), as dcm2niix (h196).
#: 187: a Siemens non-EPI DWI not typed DIFFUSION has its CSA-only table, as dcm2niix (h196).
#: 188: MatrixCoilMode "None" for an accelerated protocol of ucPATMode 0 / other / none, as dcm2niix (h196).
#: 189: sidecar Manufacturer by its text's first two letters, as dcm2niix ("CPS" -> Siemens) (h196).
#: 190: no SliceTiming from the AcquisitionTime of a single UIH volume, as dcm2niix (h196).
#: 191: RepetitionTime the measured volume interval where it is 50 ms off the stated one, as dcm2niix (h196).
#: 192: UIH sidecars write PhaseEncodingDirectionDisplayed, as dcm2niix (h196).
#: 193: a series typed DIFFUSION stating no b-value has a table of zeros (not GE's), as dcm2niix (h196).
#: 194: PhaseEncodingDirection of Siemens images neither EPI nor diffusion from their CSA header, as dcm2niix (h196).
#: 195: a note on files named like a volume's own that are not DICOM (damaged slices) (h197).
#: 196: damaged headers flag their series incomplete, or are damaged files beside it (h197).
#: 197: a BitsStored at or below HighBit (a damaged BitsStored) is refused, not masked (h197).
#: 198: a one-frame NM reconstruction opens where its detector item places it (h198).
#: 199: an NM reconstruction whose other frame vectors are constant opens (h198).
#: 200: an NM reconstruction whose FrameIncrementPointer is written as UL opens (h198).
#: 201: an NM file whose SliceVector names a slice twice is skipped, that named (h198).
#: 202: an NM reconstruction of several agreeing detector items opens (h198).
#: 203: an NM reconstruction split into one-frame files stacks where its slices lie (h198).
#: 204: one-frame NM files of no SliceVector stack by their own positions (h198).
#: 205: an NM file of NumberOfFrames < 1 is skipped for that (h198).
#: 206: images lost inside a 4D series are named by the InstanceNumbers it skips (h203).
#: 207: a volume whose images state different SeriesDescriptions says several series may be stacked (h203).
#: 208: GE / Canon image-frame diffusion directions flipped by slice plane, as dcm2niix (h201).
#: 209: a PET series' RepetitionTime / FrameDuration of no duration measured, as dcm2niix (h201).
#: 210: the Philips note on varying scalings of images one per file says what dcm2niix writes (h201).
#: 211: single-frame echoes of one volume are one volume per echo, as dcm2niix (h201).
#: 212: images of one series under two protocol names are two volumes, as dcm2niix (h201).
#: 213: Deflated files' volumes open (frame tables hold ``inflate_from``) (h199).
#: 214: a PET volume keeps its interval left out of its sidecar (``meta["frame_interval"]``) (h205).
#: 215: a gzip-compressed copy of an image a volume reads is noted as a copy, not as lost (h205).
#: 216: a mosaic of no SpacingBetweenSlices is placed by its protocol's slice positions (h205).
#: 217: a mosaic's negative SpacingBetweenSlices is named so in its spacing note, not "missing" (h205).
#: 218: a native pixel element whose length runs past the end of the file is refused saying so, not
#: as holding the bytes its length claims (h207).
#: 219: a compressed file whose fragments hold more frames than NumberOfFrames states (missing or 1)
#: is refused saying so (it was read as its first frame) (h207).
#: 220: a JPEG-LS codestream under a JPEG syntax, or a JPEG one under a JPEG-LS syntax, is refused
#: at open naming the transfer syntax (h207).
#: 221: SamplesPerPixel contradicting the photometric interpretation or the native pixels is
#: refused as a header that contradicts itself, not as an unsupported colour image (h207).
#: 222: a malformed pixel-layout attribute's refusal says what to do (h207).
#: 223: whole volumes of one series at several FlipAngle or RepetitionTime values are one volume
#: per value (they were stacked as time points of one volume), as dcm2niix (h208).
#: 224: mosaic files of one series that do not hold the same slice positions are refused saying so
#: (a volume moved by half a slice was stacked as slices of one volume, time points interleaved) (h208).
#: 225: time points (TemporalPositionIdentifier) interleaved along the slice normal, sharing no
#: position, are one volume each (they were stacked as slices of one volume) (h208).
#: 226: diffusion volumes (b-value and direction) interleaved along the slice normal, sharing no
#: position, are one volume each, as time points are (225) (h208).
#: 227: enhanced frames of volumes (TemporalPositionIndex) interleaved along the slice normal are
#: one volume each too (h208).
#: 228: the frames of a compressed enhanced file get the header checks (BitsStored, colour, bits
#: allocated) a single-frame file gets, at open (h207).
#: 229: a volume whose rescale float32 cannot resolve (a slope finer than its spacing at the
#: values it gives) has dtype float64 (scaled_dtypes; it was float32, its values merged).
#: 230-233 (h212): a JPEG/JPEG-LS frame too short for its Rows x Columns is refused; Encapsulated
#: Uncompressed series are read; impossible layout values' and syntaxes' refusals say what to do.
#: 234: a GE EPI series whose InstanceNumbers are not monotonic along the stack has the
#: SliceTiming its scan locations place (it had none) (h213).
#: 235: volumes told apart by a temporal position or diffusion label, some at other positions than
#: the others (moved), are refused naming the moved volume and by how far (h213).
#: 236: a GE EPI series not stating its delay after slice group (0043,107C) has no SliceTiming,
#: as dcm2niix (it had times taking the delay for 0) (h213).
#: 237: a GE EPI series with a delay after slice group above 0 (sparse fMRI) has the SliceTiming of
#: its slices within the stated TR, as dcm2niix (it had none) (h213).
#: 238: a single GE volume has no SliceTiming from the protocol block, as dcm2niix (h213).
#: 239: a GE EPI series not stating MRAcquisitionType keeps its SliceTiming, as dcm2niix (h213).
#: 240: a time series with a volume short of images is no longer refused as a moved volume (235's
#: check; the incomplete-volume refusal again) (h213).
#: 241: a GE fMRI / multiphase series (IOPT) not stating its delay after slice group keeps its
#: SliceTiming, as dcm2niix (236 had left it out) (h213).
#: 242: order warnings also name AcquisitionTime; irregular-spacing refusals name more steps'
#: files; a split reason names a value's single file; coarse positions are compared with the line
#: per coordinate; sidecar numbers with a digit separator are left out (h219); every local
#: compressed frame's head is checked at open and the widest precision chooses the dtype; .98
#: duplicate copies are compared through lazyvol's reader (h218). Position rounding read from every
#: coordinate and volume; slant and repeat tolerances judged per coordinate; far-off damaged
#: slices named, not offered as gaps (h224).
REPORT_FORMAT = 242
