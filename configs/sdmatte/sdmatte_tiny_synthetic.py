# A tiny SDMatte on the built-in synthetic data: the paper's method (one deterministic
# UNet step in latent space, visual-prompt tokens in the mid block, masked
# self-attention, coordinates and opacity on the time path, the two-copy composition,
# L1 + Laplacian losses on the unknown and known regions) with a 2-level UNet (32, 64)
# and a one-layer text encoder from scratch (allow_scratch) and a small frozen KL VAE
# trained first (as Stable Diffusion's is), at 64 x 64: minutes on a CPU.
#   python tools/train.py configs/sdmatte/latent_codec_kl_tiny_synthetic.py
#   python tools/train.py configs/sdmatte/sdmatte_tiny_synthetic.py --cfg-options \
#       model.pretrained.vae=work_dirs/latent_codec_kl_tiny_synthetic/iter_800.pth
#   python tools/test.py configs/sdmatte/sdmatte_tiny_synthetic.py \
#       work_dirs/sdmatte_tiny_synthetic/iter_1000.pth         # box prompts
#   python tools/infer.py configs/sdmatte/sdmatte_tiny_synthetic.py CKPT image.png \
#       --box X0 Y0 X1 Y1 --out results
_base_ = ['../_base_/datasets/synthetic.py', '../_base_/default_runtime.py']

experiment_name = 'sdmatte_tiny_synthetic'
work_dir = f'./work_dirs/{experiment_name}'
size = 64

model = dict(
    type='SDMatte',
    data_preprocessor=dict(type='MattorPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
                           bgr_to_rgb=True),  # the image in [-1, 1]
    unet=dict(sample_size=size // 4, in_channels=8, out_channels=4,
              block_out_channels=(32, 64), layers_per_block=1,
              down_block_types=('CrossAttnDownBlock2D', 'DownBlock2D'),
              up_block_types=('UpBlock2D', 'CrossAttnUpBlock2D'),
              mid_block_type='UNetMidBlock2DCrossAttn', cross_attention_dim=32,
              attention_head_dim=(2, 4), norm_num_groups=8, use_linear_projection=True,
              class_embed_type='identity', flip_sin_to_cos=True, freq_shift=0),
    vae=dict(kind='kl', config=dict(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32, 32),
        layers_per_block=1, norm_num_groups=8,
        down_block_types=('DownEncoderBlock2D', ) * 3, up_block_types=('UpDecoderBlock2D', ) * 3,
        scaling_factor=0.18215)),
    text_encoder=dict(random=True, config=dict(
        vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=77)),
    prompt=dict(box_coord_channels=32, point_embed_dim=160, max_points=10),
    coord_mlp_init='zero_last',
    loss=dict(type='SDMatteLoss'),
    train_cfg=dict(prompt_types=('points', 'boxes', 'mask'), point_sigma=3.0,
                   allow_scratch=True),
    test_cfg=dict(image_size=size, prompt_order=('boxes', 'points', 'mask'), point_sigma=4.0),
)

# SDMatte's training data: two copies of the foreground over one background, one
# labelled; squashed to the training size; prompts from the labelled alpha (the
# original's GenTrimap / GenBBox(0.01) / GenPoint(0.8) / GenMask, scaled to 64 px)
train_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='fg'),
    dict(type='LoadImageFromFile', key='bg'),
    dict(type='CompositeTwoCopies', p=1.0, blur_prob=0.5, blur_sizes=[3, 4, 5, 6, 7]),
    dict(type='Resize', keys=['merged', 'alpha'], scale=(size, size), keep_ratio=False),
    dict(type='GenerateTrimap', kernel_size=(2, 5), fg_threshold=243, bg_threshold=12),
    dict(type='GenerateBoxPrompt', jitter=0.01, inclusive_max=True),
    dict(type='GeneratePointPrompt', num_points=10, threshold=0.8),
    dict(type='GenerateMaskPrompt', threshold_range=(0.01, 1.0), kernel_range=(2, 5)),
    dict(type='RandomGray', keys=['merged'], p=0.2),
    dict(type='PackMattingInputs'),
]
# Testing: the image squashed to image_size as the original, a tight box with the
# original's inclusive max; seeded, so two runs give the same numbers. Whole-image
# metrics (no trimap): SAD, MSE x 1e3, MAD x 1e3, Grad, Conn.
test_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale',
         save_original_img=True),
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='Resize', keys=['merged', 'alpha'], scale=(size, size), keep_ratio=False),
    dict(type='GenerateBoxPrompt', inclusive_max=True, seed=0),
    dict(type='PackMattingInputs'),
]
# tools/infer.py and MattingInferencer: the image and the user's prompt; the model
# squashes to image_size itself
inference_pipeline = [dict(type='PackMattingInputs')]

train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='SAD', region='all'),
    dict(type='MSE', region='all', scale=1e3),
    dict(type='MAD', region='all', scale=1e3),
    dict(type='GradientError', region='all'),
    dict(type='ConnectivityError', region='all'),
]
test_evaluator = val_evaluator

train_cfg = dict(type='IterBasedTrainLoop', max_iters=1000, val_interval=100_000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# the paper: AdamW, lr 5e-5, weight decay 0.1 (none on norms), 200 warm-up iterations,
# exponential decay to 0.005x; the tiny run uses a larger rate
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                                    weight_decay=0.1),
                     paramwise_cfg=dict(norm_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='ExponentialLR', gamma=0.005**(1 / 950), by_epoch=False, begin=50, end=1000),
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=500, by_epoch=False, save_last=True,
                    max_keep_ckpts=2),
)
custom_hooks = [dict(type='MattingVisualizationHook', num_samples=4)]
randomness = dict(seed=0)
