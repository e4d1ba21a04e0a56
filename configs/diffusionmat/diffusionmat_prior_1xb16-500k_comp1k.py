# DiffusionMat's alpha prior: an unconditional DDPM over Composition-1k alpha mattes in
# [0, 1] (epsilon prediction, linear betas 1e-4..0.02 over 1000 steps), the network of
# the released ckpt_diffusion.pt (PixelUNet: in 1, ch 64, ch_mult 1-1-2-2, one res block
# per level, dropout 0.1, no attention).
#
# The original project does not release the code that trained its prior; the settings
# below are mattebox's choice, taken from the pytorch-ddpm trainer whose UNet and
# checkpoint layout (net_model / ema_model) the prior uses: Adam lr 2e-4, gradient
# clipping at 1.0, 5000 linear warm-up iterations, uniform timesteps, MSE on the noise;
# 256 x 256 crops (image_size of the original's configs/matte.yml) around the unknown
# region, random flips, batch 16, 500k iterations. No EMA (the original DiffusionMat
# uses the non-EMA net_model weights).
#
#   python tools/train.py configs/diffusionmat/diffusionmat_prior_1xb16-500k_comp1k.py
#   python tools/test.py configs/diffusionmat/diffusionmat_prior_1xb16-500k_comp1k.py \
#       work_dirs/diffusionmat_prior_1xb16-500k_comp1k/iter_500000.pth
# The checkpoint is DiffusionMat's model.prior_checkpoint. tools/test.py noises each test
# alpha to level 250 and brings it back with 5 DDIM steps of the prior alone.
_base_ = ['../_base_/datasets/comp1k.py', '../_base_/default_runtime.py']

experiment_name = 'diffusionmat_prior_1xb16-500k_comp1k'
work_dir = f'./work_dirs/{experiment_name}'
crop_size = 256
max_iters = 500_000

model = dict(
    type='AlphaDDPM',
    data_preprocessor=dict(
        type='MattorPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
    ),
    prior=dict(type='PixelUNet', in_channels=1, ch=64, ch_mult=(1, 1, 2, 2),
               num_res_blocks=1, attn=(), dropout=0.1, num_timesteps=1000),
    schedule=dict(type='NoiseSchedule', num_train_timesteps=1000, beta_schedule='linear',
                  beta_start=1e-4, beta_end=0.02),
    loss_eps=dict(type='MSELoss'),
    test_cfg=dict(source='mask', t_start=250, num_steps=5,
                  start_noise_at_previous_level=True, seed=0,
                  resize=dict(type='PadToMultiple', divisor=32, position='bottom_right',
                              mode='reflect')),
)

# Only the alpha is used; PackMattingInputs needs the merged image, so it is loaded too.
train_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='CropAroundUnknown', keys=['alpha', 'merged'],
         crop_sizes=[crop_size, int(crop_size * 1.5), crop_size * 2]),
    dict(type='Flip', keys=['alpha', 'merged']),
    dict(type='Resize', keys=['alpha', 'merged'], scale=(crop_size, crop_size),
         keep_ratio=False),
    dict(type='PackMattingInputs'),
]
# Testing: the ground-truth alpha, as the 'mask' guidance, is noised and denoised.
test_pipeline = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale',
         save_original_img=True),
    dict(type='LoadImageFromFile', key='trimap', color_type='grayscale',
         save_original_img=True),
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='GenerateMaskPrompt', threshold_range=None, operations=()),
    dict(type='PackMattingInputs'),
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))

val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=50_000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4),
                     clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, begin=0, end=5000,
         by_epoch=False),
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', interval=50_000, by_epoch=False,
                    save_last=True, max_keep_ckpts=3),
)
