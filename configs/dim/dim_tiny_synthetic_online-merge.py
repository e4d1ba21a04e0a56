# The tiny synthetic DIM with online merging: fg and bg are cropped first and merged
# after resizing (the pipeline of dim_stage1-v16_1xb1-1000k_comp1k_online-merge.py at
# the synthetic data's scale). The synthetic backgrounds have the foreground's size, so
# FitBgToFg passes them through.
_base_ = ['./dim_tiny_synthetic.py']

experiment_name = 'dim_tiny_synthetic_online-merge'
work_dir = f'./work_dirs/{experiment_name}'

crop_size = 64
train_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='fg'),
    dict(type='LoadImageFromFile', key='bg'),
    dict(type='FitBgToFg', ref_key='fg'),
    dict(type='CropAroundUnknown', keys=['alpha', 'fg', 'bg'],
         crop_sizes=[crop_size, int(crop_size * 1.5), crop_size * 2]),
    dict(type='Flip', keys=['alpha', 'fg', 'bg']),
    dict(type='Resize', keys=['alpha', 'fg', 'bg'], scale=(crop_size, crop_size),
         keep_ratio=False),
    dict(type='MergeFgAndBg'),
    dict(type='GenerateTrimap', kernel_size=(1, 10)),
    dict(type='PackMattingInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
