# A small DiffusionMat on the built-in synthetic data, on top of the prior trained by
# diffusionmat_prior_tiny_synthetic.py. Sampling and losses as in the paper (t_start 250,
# 5 DDIM steps, one optimiser step per denoising step, loss weights 2/1/1); networks,
# crops, batch and learning rate shrunk so that it trains in a few minutes on a CPU:
#   python tools/train.py configs/diffusionmat/diffusionmat_prior_tiny_synthetic.py
#   python tools/train.py configs/diffusionmat/diffusionmat_tiny_synthetic.py \
#       --cfg-options \
#       model.prior_checkpoint=work_dirs/diffusionmat_prior_tiny_synthetic/iter_1000.pth
#   python tools/test.py configs/diffusionmat/diffusionmat_tiny_synthetic.py \
#       work_dirs/diffusionmat_tiny_synthetic/iter_150.pth
_base_ = ['../_base_/datasets/synthetic.py', '../_base_/default_runtime.py']

experiment_name = 'diffusionmat_tiny_synthetic'
work_dir = f'./work_dirs/{experiment_name}'
crop_size = 32

model = dict(
    type='DiffusionMat',
    data_preprocessor=dict(
        type='MattorPreprocessor',
        mean=[123.675, 116.28, 103.53],  # ImageNet mean/std of RGB, as the original
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
    ),
    # must equal the prior of diffusionmat_prior_tiny_synthetic.py
    prior=dict(type='PixelUNet', in_channels=1, ch=32, ch_mult=(1, 2), num_res_blocks=1,
               attn=(), dropout=0.1, num_timesteps=1000),
    # a trained prior is required for training: pass it with --cfg-options
    # model.prior_checkpoint=PATH (tools/test.py takes it from the tested checkpoint)
    prior_checkpoint=None,
    encoder=dict(type='SwinUNet', in_channels=3, out_channels=32, embed_dim=24,
                 depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8), window_size=7,
                 drop_path_rate=0.1),
    corrector=dict(type='PixelUNet', in_channels=33, ch=32, ch_mult=(1, 2),
                   num_res_blocks=1, attn=(), dropout=0.1, time_embedding=False),
    schedule=dict(type='NoiseSchedule', num_train_timesteps=1000, beta_schedule='linear',
                  beta_start=1e-4, beta_end=0.02),
    loss_inv=dict(type='MSELoss', loss_weight=2.0),
    loss_alpha=dict(type='L1Loss', loss_weight=1.0),
    loss_comp=dict(type='L1Loss', loss_weight=1.0),
    train_cfg=dict(t_start=250, num_steps=5, accumulate_steps=False,
                   loss_normalisation='image'),
    test_cfg=dict(t_start=250, num_steps=5, start_noise_at_previous_level=True, seed=0,
                  # the original's padding: reflect, top/left, to a multiple of 32 plus 32
                  resize=dict(type='PadToMultiple', divisor=32, position='top_left',
                              extra=32, mode='reflect')),
)

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
    dict(type='GenerateTrimap', kernel_size=(1, 6)),
    dict(type='PackMattingInputs'),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))

# one iteration = 5 optimiser steps (one per denoising step)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=150, val_interval=100_000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='Adam', lr=5e-4, betas=(0.5, 0.999)))
# the paper keeps the learning rate constant; the short tiny run ends more stably with
# a decay (the schedulers step once per iteration, i.e. per 5 optimiser steps)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=150, eta_min=1e-5, by_epoch=False)]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=50, by_epoch=False, save_last=True,
                    max_keep_ckpts=2),
)
# image | guidance | prediction | ground truth of 4 samples, in {work_dir}/vis/
custom_hooks = [dict(type='MattingVisualizationHook', num_samples=4)]
randomness = dict(seed=0)
