# A tiny TAESD-style VAE (AutoencoderTiny, 3 blocks: 4x downsampling like the tiny KL VAE, so that
# LiteSDMatte's features match its tiny SDMatte teacher's; 4 latent channels) trained
# to reconstruct the synthetic images and alpha mattes: the frozen VAE of
# litesdmatte_tiny_synthetic.py (LiteSDMatte uses TAESD). A couple of CPU minutes:
#   python tools/train.py configs/sdmatte/latent_codec_taesd_tiny_synthetic.py
# tools/test.py encodes and decodes each test alpha: SAD / MSE / ... of the round trip.
_base_ = ['../_base_/datasets/synthetic.py', '../_base_/default_runtime.py']

experiment_name = 'latent_codec_taesd_tiny_synthetic'
work_dir = f'./work_dirs/{experiment_name}'
size = 64

# keep in sync with model.vae of litesdmatte_tiny_synthetic.py
vae = dict(kind='tiny', config=dict(
    in_channels=3, out_channels=3, encoder_block_out_channels=(16, 16, 16),
    decoder_block_out_channels=(16, 16, 16), act_fn='relu', upsample_fn='nearest',
    latent_channels=4, upsampling_scaling_factor=2, num_encoder_blocks=(1, 1, 1),
    num_decoder_blocks=(1, 1, 1), latent_magnitude=3, latent_shift=0.5,
    scaling_factor=1.0))

model = dict(
    type='LatentCodecTrainer',
    data_preprocessor=dict(type='MattorPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
                           bgr_to_rgb=True),
    vae=vae,
    kl_weight=1e-6,
)

train_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='CropAroundUnknown', keys=['alpha', 'merged'],
         crop_sizes=[size, int(size * 1.5), size * 2]),
    dict(type='Flip', keys=['alpha', 'merged']),
    dict(type='Resize', keys=['alpha', 'merged'], scale=(size, size), keep_ratio=False),
    dict(type='PackMattingInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale',
         save_original_img=True),
    dict(type='LoadImageFromFile', key='trimap', color_type='grayscale',
         save_original_img=True),
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='GenerateMaskPrompt', threshold_range=None, operations=()),
    dict(type='PackMattingInputs'),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(type='IterBasedTrainLoop', max_iters=800, val_interval=100_000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-3))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=800, eta_min=1e-5, by_epoch=False)]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=400, by_epoch=False, save_last=True,
                    max_keep_ckpts=2),
)
randomness = dict(seed=0)
