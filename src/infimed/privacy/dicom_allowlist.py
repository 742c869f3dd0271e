"""The attributes a de-identified DICOM keeps; everything not named here is removed (``infimed.privacy.dicom``).

An allowlist cannot miss an identifier it has never heard of: a new attribute of the next DICOM edition, a
vendor's misuse of a public tag or an unknown tag is dropped because it is not listed, not because someone
remembered to list it. What is kept describes the pixels (pixel module, LUTs, multi-frame functional groups),
their geometry, the modality and the acquisition physics. None of it is in PS3.15 Table E.1-1 except the
UIDs (remapped) and the Type 2 identity attributes that must stay present (emptied); a test checks this
against the table. Every text value that is kept is still run through the text PHI scrubber.
"""

from __future__ import annotations

VERSION = "v2"

# Remapped consistently (``remap_uid``); registered DICOM UIDs (SOP classes, transfer syntaxes) stay.
UIDS = frozenset({
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
    "SynchronizationFrameOfReferenceUID", "ConcatenationUID", "DimensionOrganizationUID",
    "MediaStorageSOPInstanceUID",
})

# Type 2 attributes of the Patient/Study modules: kept present with an empty value (PS3.15 action Z).
EMPTY = frozenset({
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
    "ReferringPhysicianName", "StudyID", "AccessionNumber", "ContentDate", "ContentTime",
})

# Coded values whose allowed terms are closed: any other value is refused rather than scrubbed, because
# blanking them would silently change how the pixels are read or whether they are safe.
ENUMERATED: dict[str, frozenset[str]] = {
    "PhotometricInterpretation": frozenset({
        "MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "HSV", "ARGB", "CMYK", "YBR_FULL",
        "YBR_FULL_422", "YBR_PARTIAL_422", "YBR_PARTIAL_420", "YBR_ICT", "YBR_RCT",
    }),
    "BurnedInAnnotation": frozenset({"YES", "NO"}),
    "RecognizableVisualFeatures": frozenset({"YES", "NO"}),
    "LossyImageCompression": frozenset({"00", "01"}),
}

# Modalities whose pixels usually carry burned-in text or a recognisable face when BurnedInAnnotation is
# not stated: ultrasound, endoscopy, photography, microscopy, secondary capture / other (screenshots).
BURNED_IN_MODALITIES = frozenset({"US", "IVUS", "ES", "XC", "GM", "SC", "OT", "DOC"})
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"  # SC image storage SOP classes

_PIXELS = """
SOPClassUID TransferSyntaxUID MediaStorageSOPClassUID SpecificCharacterSet ImageType InstanceNumber
SeriesNumber AcquisitionNumber Modality SamplesPerPixel PhotometricInterpretation Rows Columns BitsAllocated
BitsStored HighBit PixelRepresentation PlanarConfiguration NumberOfFrames FrameIncrementPointer FrameTime
FrameTimeVector PixelAspectRatio SmallestImagePixelValue LargestImagePixelValue PixelPaddingValue
PixelPaddingRangeLimit PixelData FloatPixelData DoubleFloatPixelData ExtendedOffsetTable
ExtendedOffsetTableLengths RescaleIntercept RescaleSlope RescaleType WindowCenter WindowWidth
WindowCenterWidthExplanation VOILUTFunction VOILUTSequence ModalityLUTSequence LUTDescriptor LUTData
LUTExplanation ModalityLUTType PresentationLUTShape RedPaletteColorLookupTableDescriptor
GreenPaletteColorLookupTableDescriptor BluePaletteColorLookupTableDescriptor AlphaPaletteColorLookupTableDescriptor
RedPaletteColorLookupTableData GreenPaletteColorLookupTableData BluePaletteColorLookupTableData
AlphaPaletteColorLookupTableData SegmentedRedPaletteColorLookupTableData SegmentedGreenPaletteColorLookupTableData
SegmentedBluePaletteColorLookupTableData ICCProfile ColorSpace LossyImageCompression LossyImageCompressionRatio
LossyImageCompressionMethod BurnedInAnnotation RecognizableVisualFeatures PixelPresentation VolumetricProperties
VolumeBasedCalculationTechnique PresentationIntentType PixelIntensityRelationship PixelIntensityRelationshipSign
DoseUnits DoseType DoseSummationType GridFrameOffsetVector DoseGridScaling
"""

_GEOMETRY = """
PixelSpacing ImagerPixelSpacing NominalScannedPixelSpacing PixelSpacingCalibrationType SliceThickness
SpacingBetweenSlices ImagePositionPatient ImageOrientationPatient SliceLocation PatientOrientation
PatientPosition ViewPosition Laterality ImageLaterality FrameLaterality BodyPartExamined
DistanceSourceToDetector DistanceSourceToPatient EstimatedRadiographicMagnificationFactor
SequenceOfUltrasoundRegions RegionSpatialFormat RegionDataType RegionFlags RegionLocationMinX0
RegionLocationMinY0 RegionLocationMaxX1 RegionLocationMaxY1 ReferencePixelX0 ReferencePixelY0
PhysicalUnitsXDirection PhysicalUnitsYDirection ReferencePixelPhysicalValueX ReferencePixelPhysicalValueY
PhysicalDeltaX PhysicalDeltaY TransducerFrequency
"""

_PHYSICS = """
KVP XRayTubeCurrent Exposure ExposureTime ExposureInuAs XRayTubeCurrentInuA GeneratorPower FocalSpots
FilterType ConvolutionKernel ReconstructionDiameter DataCollectionDiameter GantryDetectorTilt TableHeight
RotationDirection RevolutionTime SingleCollimationWidth TotalCollimationWidth TableSpeed TableFeedPerRotation
SpiralPitchFactor CTDIvol ExposureModulationType ScanOptions ScanningSequence SequenceVariant MRAcquisitionType
SequenceName AngioFlag RepetitionTime EchoTime InversionTime EchoTrainLength NumberOfAverages ImagingFrequency
ImagedNucleus EchoNumbers MagneticFieldStrength NumberOfPhaseEncodingSteps PercentSampling
PercentPhaseFieldOfView PixelBandwidth AcquisitionMatrix InPlanePhaseEncodingDirection FlipAngle
VariableFlipAngleFlag SAR dBdt TriggerTime DiffusionBValue ContrastBolusVolume ContrastBolusTotalDose
ContrastFlowRate ContrastBolusIngredientConcentration ContrastBolusRoute ExposuresOnPlate Sensitivity
RelativeXRayExposure PlateType PhosphorType ExaminedBodyThickness ImageAndFluoroscopyAreaDoseProduct
EnergyWindowVector NumberOfEnergyWindows DetectorVector NumberOfDetectors CountsAccumulated ActualFrameDuration
Manufacturer ManufacturerModelName
"""

_FUNCTIONAL_GROUPS = """
SharedFunctionalGroupsSequence PerFrameFunctionalGroupsSequence PixelMeasuresSequence PlanePositionSequence
PlaneOrientationSequence FrameVOILUTSequence PixelValueTransformationSequence FrameContentSequence
FrameAcquisitionNumber StackID InStackPositionNumber TemporalPositionIndex DimensionIndexValues
DimensionOrganizationSequence DimensionIndexSequence DimensionIndexPointer FunctionalGroupPointer
DimensionDescriptionLabel DimensionOrganizationType MRImageFrameTypeSequence CTImageFrameTypeSequence FrameType
MREchoSequence EffectiveEchoTime MRTimingAndRelatedParametersSequence MRFOVGeometrySequence
CTAcquisitionTypeSequence CTReconstructionSequence CTExposureSequence CTGeometrySequence CTPositionSequence
FrameAnatomySequence AnatomicRegionSequence AnatomicRegionModifierSequence ViewCodeSequence
ViewModifierCodeSequence RealWorldValueMappingSequence LUTLabel RealWorldValueFirstValueMapped
RealWorldValueLastValueMapped RealWorldValueIntercept RealWorldValueSlope MeasurementUnitsCodeSequence
CodeValue CodingSchemeDesignator CodingSchemeVersion CodeMeaning LongCodeValue URNCodeValue
"""

KEEP = frozenset((_PIXELS + _GEOMETRY + _PHYSICS + _FUNCTIONAL_GROUPS).split())
# The de-identification record itself (written by ``infimed.privacy.dicom``).
RECORD = frozenset({
    "PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
    "LongitudinalTemporalInformationModified",
})
ALLOWED = KEEP | UIDS | EMPTY | RECORD
