# SDMatte tested with point prompts: 10 points with alpha > 0.8, sigma 35 px (seeded).
_base_ = ['./sdmatte_sd2_8xb1-30k_matting-mix.py']

test_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale',
         save_original_img=True),
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='Resize', keys=['merged', 'alpha'], scale=(1024, 1024), keep_ratio=False),
    dict(type='GeneratePointPrompt', num_points=10, threshold=0.8, seed=0),
    dict(type='PackMattingInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(test_cfg=dict(prompt_order=('points', ), point_sigma=35.0))
