# DIM stage 1 with online merging: the model and schedule of
# dim_stage1-v16_1xb1-1000k_comp1k.py, the data of _base_/datasets/comp1k_online_merge.py
# (each training foreground over its DIM background, merged after cropping; no composed
# training images needed). The pipeline below is that file's train_pipeline (a test
# checks that they agree): a dataset base cannot be a second _base_ here, since both
# define the dataloaders.
_base_ = ['./dim_stage1-v16_1xb1-1000k_comp1k.py']

experiment_name = 'dim_stage1-v16_1xb1-1000k_comp1k_online-merge'
work_dir = f'./work_dirs/{experiment_name}'

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
