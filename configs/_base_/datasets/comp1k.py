# Adobe Composition-1k, pre-merged training images (DIM's setting).
# Prepare the data as in docs/datasets.md; the layout is
#   data/adobe_composition-1k/{training_list.json, test_list.json, Training_set/, Test_set/}
dataset_type = 'AdobeComp1kDataset'
data_root = 'data/adobe_composition-1k'

train_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='fg'),
    dict(type='LoadImageFromFile', key='bg'),
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='CropAroundUnknown', keys=['alpha', 'merged', 'fg', 'bg'],
         crop_sizes=[320, 480, 640]),
    dict(type='Flip', keys=['alpha', 'merged', 'fg', 'bg']),
    dict(type='Resize', keys=['alpha', 'merged', 'fg', 'bg'], scale=(320, 320),
         keep_ratio=False),
    dict(type='GenerateTrimap', kernel_size=(1, 30)),
    dict(type='PackMattingInputs'),
]

test_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale',
         save_original_img=True),
    dict(type='LoadImageFromFile', key='trimap', color_type='grayscale',
         save_original_img=True),
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='PackMattingInputs'),
]

train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='training_list.json',
                 test_mode=False, pipeline=train_pipeline),
)

val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='test_list.json',
                 test_mode=True, pipeline=test_pipeline),
)
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='SAD'),
    dict(type='MSE'),
    dict(type='GradientError'),
    dict(type='ConnectivityError'),
]
test_evaluator = val_evaluator
