# Online composition in the style of GCA-Matting / MatteFormer (MMagic's GCA pipeline):
# Composition-1k training foregrounds, half of them mixed with a second foreground,
# warped by a random affine (rotation, scale, shear, flips), over a random COCO
# background, cropped to 512 x 512 around the unknown region of a generated trimap,
# colour-jittered, then merged. The trimap stays 0 / 128 / 255: models encode it in
# their data preprocessor (add FormatTrimap for models that want labels / one-hot).
#
# Data: data/adobe_composition-1k as prepared by
#   python tools/dataset_converters/comp1k/prepare.py data/adobe_composition-1k \
#       --coco data/coco --voc data/VOCdevkit --no-train-composite
# (training_list_online.json lists each foreground 100 times; its backgrounds are
# replaced by random ones here), and COCO train2017 images in data/coco/train2017.
_base_ = ['./comp1k.py']

crop_size = 512
bg_dir = 'data/coco/train2017'
fg_dirs = [
    'data/adobe_composition-1k/Training_set/Adobe-licensed images/fg',
    'data/adobe_composition-1k/Training_set/Other/fg',
]
alpha_dirs = [
    'data/adobe_composition-1k/Training_set/Adobe-licensed images/alpha',
    'data/adobe_composition-1k/Training_set/Other/alpha',
]

train_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='fg'),
    dict(type='RandomLoadResizeBg', bg_dir=bg_dir),
    dict(type='CompositeFg', fg_dirs=fg_dirs, alpha_dirs=alpha_dirs, p=0.5),
    dict(type='RandomAffine', keys=['alpha', 'fg'], degrees=30, scale=(0.8, 1.25),
         shear=10, flip_ratio=0.5),
    dict(type='GenerateTrimap', kernel_size=(1, 30)),
    dict(type='CropAroundCenter', crop_size=crop_size),
    dict(type='RandomJitter', hue_range=40),
    dict(type='MergeFgAndBg'),
    dict(type='PackMattingInputs'),
]

train_dataloader = dict(
    batch_size=10,
    num_workers=8,
    dataset=dict(ann_file='training_list_online.json', pipeline=train_pipeline))
