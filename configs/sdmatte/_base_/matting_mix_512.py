# SDMatte's training data (configs/SDMatte.py of the original): Composition-1k,
# Distinctions-646, AM-2K, RefMatte and UHRSD; foregrounds composited twice over BG-20K
# backgrounds (one copy labelled), photographs used as they are; all squashed to
# 512 x 512; a random prompt (points, box or mask) per step, drawn from the labelled
# alpha. Folder layouts as the original expects them (docs and configs/sdmatte/README.md);
# the *_transparent_samples.txt lists come from the SDMatte repository (data/txt/).
crop_size = 512

prompts = [
    dict(type='Resize', keys=['merged', 'alpha'], scale=(crop_size, crop_size),
         keep_ratio=False),
    dict(type='GenerateTrimap', kernel_size=(15, 30), fg_threshold=243, bg_threshold=12),
    dict(type='GenerateBoxPrompt', jitter=0.01, inclusive_max=True),
    dict(type='GeneratePointPrompt', num_points=10, threshold=0.8),
    dict(type='GenerateMaskPrompt', threshold_range=(0.01, 1.0), kernel_range=(15, 30)),
    dict(type='RandomGray', keys=['merged'], p=0.2),
    dict(type='PackMattingInputs'),
]
composite_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='fg'),
    dict(type='LoadImageFromFile', key='bg'),
    dict(type='CompositeTwoCopies', p=1.0, blur_prob=0.5, blur_sizes=[20, 30, 40, 50, 60]),
] + prompts
photo_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='merged'),
] + prompts


train_datasets = [
    dict(type='MattingFolderDataset', data_root='data/Combined_Dataset/Training_set',
         image_dir=None, fg_dir='combined_fg', alpha_dir='combined_alpha',
         backgrounds=dict(folder='../../BG-20K/train', per_sample=3),
         transparent_names='../../txt/Composition_1k_transparent_samples.txt',
         pipeline=composite_pipeline),
    dict(type='MattingFolderDataset', data_root='data/Distinctions-646/Train',
         image_dir=None, fg_dir='FG', alpha_dir='GT',
         backgrounds=dict(folder='../../BG-20K/train', per_sample=3),
         transparent_names='../../txt/DIS_646_transparent_samples.txt',
         pipeline=composite_pipeline),
    dict(type='MattingFolderDataset', data_root='data/AM-2K/train', image_dir='original',
         alpha_dir='mask', pipeline=photo_pipeline),
    dict(type='MattingFolderDataset', data_root='data/AM-2K/train', image_dir=None,
         fg_dir='fg', alpha_dir='mask',
         backgrounds=dict(folder='../../BG-20K/train', per_sample=4),
         pipeline=composite_pipeline),
    dict(type='MattingFolderDataset', data_root='data/RefMatte/train', image_dir='img',
         alpha_dir='mask', pipeline=photo_pipeline),
    dict(type='MattingFolderDataset', data_root='data/UHRSD/UHRSD_TR_2K', image_dir='image',
         alpha_dir='mask', pipeline=photo_pipeline),
]
train_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='ConcatDataset', datasets=train_datasets),
)

# Testing: AIM-500 (the paper's main table), the image squashed to 1024 x 1024 as the
# original, the prompt drawn (seeded) from the ground truth at that size; the prediction
# is resized back and scored on the whole image.
test_prompt = dict(type='GenerateBoxPrompt', inclusive_max=True, seed=0)
test_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale',
         save_original_img=True),
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='Resize', keys=['merged', 'alpha'], scale=(1024, 1024), keep_ratio=False),
    test_prompt,
    dict(type='PackMattingInputs'),
]
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='MattingFolderDataset', data_root='data/AIM-500', image_dir='original',
                 alpha_dir='mask', transparent_names='../txt/AIM_500_transparent_samples.txt',
                 test_mode=True, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
# the paper's whole-image metrics: SAD, MSE x 1e3, MAD x 1e3, Grad, Conn
val_evaluator = [
    dict(type='SAD', region='all'),
    dict(type='MSE', region='all', scale=1e3),
    dict(type='MAD', region='all', scale=1e3),
    dict(type='GradientError', region='all'),
    dict(type='ConnectivityError', region='all'),
]
test_evaluator = val_evaluator
# tools/infer.py and MattingInferencer: the image and the user's prompt (the model
# squashes to image_size itself)
inference_pipeline = [dict(type='PackMattingInputs')]
