# Adobe Composition-1k, merged online (no composed training images needed): each
# training foreground over its DIM background (the COCO source image), fitted to the
# foreground as DIM's composition script does (upscaled if smaller, top-left window).
# The pipeline crops first and merges only what it keeps:
#   load alpha / fg / bg -> fit bg to fg (a view unless upscaled) -> crop around the
#   unknown region -> flip -> resize to 320 -> merge -> trimap -> pack.
# Prepare the annotation (no image written) with
#   python tools/dataset_converters/comp1k/prepare.py data/adobe_composition-1k \
#       --coco data/coco --voc data/VOCdevkit --no-train-composite
# which writes training_list_online.json (alpha, fg, source bg) and the test set.
_base_ = ['./comp1k.py']

train_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='fg'),
    dict(type='LoadImageFromFile', key='bg'),
    dict(type='FitBgToFg', ref_key='fg', interpolation='bicubic', position='top_left'),
    dict(type='CropAroundUnknown', keys=['alpha', 'fg', 'bg'], crop_sizes=[320, 480, 640]),
    dict(type='Flip', keys=['alpha', 'fg', 'bg']),
    dict(type='Resize', keys=['alpha', 'fg', 'bg'], scale=(320, 320), keep_ratio=False),
    dict(type='MergeFgAndBg'),
    dict(type='GenerateTrimap', kernel_size=(1, 30)),
    dict(type='PackMattingInputs'),
]

train_dataloader = dict(
    dataset=dict(ann_file='training_list_online.json', pipeline=train_pipeline))
