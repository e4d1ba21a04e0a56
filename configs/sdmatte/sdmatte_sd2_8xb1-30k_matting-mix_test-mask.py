# SDMatte tested with mask prompts: the ground truth thresholded, then eroded / dilated
# (the original's GenMask, seeded).
_base_ = ['./sdmatte_sd2_8xb1-30k_matting-mix.py']

test_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale',
         save_original_img=True),
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='Resize', keys=['merged', 'alpha'], scale=(1024, 1024), keep_ratio=False),
    dict(type='GenerateMaskPrompt', threshold_range=(0.01, 1.0), kernel_range=(15, 30),
         seed=0),
    dict(type='PackMattingInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(test_cfg=dict(prompt_order=('mask', )))
