"""Data transforms: loading, composition, geometry, trimaps, masks, packing."""
from .composite import (CompositeFg, MergeFgAndBg, PerturbBg, RandomGray, RandomJitter,
                        RandomLoadResizeBg)
from .geometry import (CropAroundCenter, CropAroundFg, CropAroundUnknown, Flip, RandomAffine,
                       Resize)
from .loading import LoadImageFromFile, read_image
from .masks import GenerateSeg, GenerateSoftSeg
from .packing import PackMattingInputs
from .prompts import GenerateBoxPrompt, GenerateMaskPrompt, GeneratePointPrompt, LoadText
from .trimap import (FormatTrimap, GenerateTrimap, GenerateTrimapFromMask,
                     GenerateTrimapWithDistTransform)

__all__ = ['LoadImageFromFile', 'read_image', 'CropAroundUnknown', 'Flip', 'Resize',
           'GenerateTrimap', 'PackMattingInputs',
           'MergeFgAndBg', 'CompositeFg', 'RandomLoadResizeBg', 'PerturbBg', 'RandomJitter',
           'RandomGray', 'RandomAffine', 'CropAroundCenter', 'CropAroundFg',
           'GenerateTrimapWithDistTransform', 'FormatTrimap', 'GenerateSeg',
           'GenerateSoftSeg', 'GenerateTrimapFromMask', 'GenerateBoxPrompt',
           'GeneratePointPrompt', 'GenerateMaskPrompt', 'LoadText']
from .background import FitBgToFg  # noqa: E402,F401  (online composition: bg fitting)
__all__ += ['FitBgToFg']
from .referring import (BinarizeAlpha, LoadReferringAlpha, ReferringFlip,  # noqa: E402
                        UseAsOriginal, swap_left_right)
__all__ += ['BinarizeAlpha', 'LoadReferringAlpha', 'ReferringFlip', 'UseAsOriginal',
            'swap_left_right']
