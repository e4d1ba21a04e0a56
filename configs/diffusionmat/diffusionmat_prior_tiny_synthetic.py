# A small alpha-matte DDPM (DiffusionMat's prior, 1/2 of the channels, two levels) on the
# built-in synthetic data: trains in a couple of minutes on a CPU. Its checkpoint is the
# prior_checkpoint of diffusionmat_tiny_synthetic.py:
#   python tools/train.py configs/diffusionmat/diffusionmat_prior_tiny_synthetic.py
#   python tools/test.py configs/diffusionmat/diffusionmat_prior_tiny_synthetic.py \
#       work_dirs/diffusionmat_prior_tiny_synthetic/iter_1000.pth
# tools/test.py noises each test alpha (given to the model as the 'mask' guidance) to
# level 250 and denoises it in 5 DDIM steps with the prior alone, so the printed
# SAD/MSE/Grad/Conn say how well the prior knows what a matte looks like.
_base_ = ['../_base_/datasets/synthetic.py', '../_base_/default_runtime.py']

experiment_name = 'diffusionmat_prior_tiny_synthetic'
work_dir = f'./work_dirs/{experiment_name}'
crop_size = 32

# keep in sync with model.prior of diffusionmat_tiny_synthetic.py
prior = dict(type='PixelUNet', in_channels=1, ch=32, ch_mult=(1, 2), num_res_blocks=1,
             attn=(), dropout=0.1, num_timesteps=1000)

model = dict(
    type='AlphaDDPM',
    data_preprocessor=dict(
        type='MattorPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
    ),
    prior=prior,
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
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))

val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(type='IterBasedTrainLoop', max_iters=1000, val_interval=100_000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3),
                     clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=1000, eta_min=1e-5, by_epoch=False)]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=500, by_epoch=False, save_last=True,
                    max_keep_ckpts=2),
)
# image | guidance | prediction | ground truth of 4 samples, in {work_dir}/vis/
custom_hooks = [dict(type='MattingVisualizationHook', num_samples=4)]
randomness = dict(seed=0)
