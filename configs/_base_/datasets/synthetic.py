# The built-in synthetic matting data (Composition-1k layout), made by
#   python tools/dataset_converters/make_synthetic.py data/synthetic
# Same annotation format, test pipeline and metrics as Composition-1k; small crops.
_base_ = ['./comp1k.py']

data_root = 'data/synthetic'
crop_size = 64

train_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='fg'),
    dict(type='LoadImageFromFile', key='bg'),
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='CropAroundUnknown', keys=['alpha', 'merged', 'fg', 'bg'],
         crop_sizes=[crop_size, int(crop_size * 1.5), crop_size * 2]),
    dict(type='Flip', keys=['alpha', 'merged', 'fg', 'bg']),
    dict(type='Resize', keys=['alpha', 'merged', 'fg', 'bg'], scale=(crop_size, crop_size),
         keep_ratio=False),
    dict(type='GenerateTrimap', kernel_size=(1, 10)),
    dict(type='PackMattingInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    dataset=dict(data_root=data_root, pipeline=train_pipeline),
)
val_dataloader = dict(num_workers=0, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
