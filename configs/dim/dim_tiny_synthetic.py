# A narrow DIM (1/4 of the channels) on the built-in synthetic data: learns visibly in a
# few minutes on 2 CPU cores. Used by `make demo` and the tests.
_base_ = ['../_base_/datasets/synthetic.py', '../_base_/default_runtime.py']

experiment_name = 'dim_tiny_synthetic'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    type='DIM',
    data_preprocessor=dict(
        type='MattorPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
    ),
    backbone=dict(
        type='SimpleEncoderDecoder',
        encoder=dict(type='VGG16', in_channels=4, base_channels=16, batch_norm=True),
        decoder=dict(type='PlainDecoder', base_channels=16)),
    loss_alpha=dict(type='CharbonnierLoss', loss_weight=0.5),
    loss_comp=dict(type='CharbonnierCompLoss', loss_weight=0.5),
    train_cfg=dict(train_backbone=True, train_refiner=False),
    test_cfg=dict(refine=False,
                  resize=dict(type='PadToMultiple', divisor=32, position='bottom_right',
                              mode='reflect')),
)

train_cfg = dict(type='IterBasedTrainLoop', max_iters=3000, val_interval=100_000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=3000, eta_min=1e-5, by_epoch=False)]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=1000, by_epoch=False, save_last=True,
                    max_keep_ckpts=2),
)
# image | guidance | prediction | ground truth of 4 samples, in {work_dir}/vis/
custom_hooks = [dict(type='MattingVisualizationHook', num_samples=4)]
randomness = dict(seed=0)
