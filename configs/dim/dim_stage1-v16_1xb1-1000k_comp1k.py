# DIM stage 1: the encoder-decoder alone (alpha + composition losses), as in the paper
# and MMagic: Adam lr 1e-5, batch 1, 1M iterations, 320 x 320 crops.
_base_ = ['../_base_/datasets/comp1k.py', '../_base_/default_runtime.py']

experiment_name = 'dim_stage1-v16_1xb1-1000k_comp1k'
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
        # Set pretrained='path/to/vgg16.pth' (a local ImageNet VGG16, torchvision
        # layout) to start from ImageNet weights as the paper does.
        encoder=dict(type='VGG16', in_channels=4),
        decoder=dict(type='PlainDecoder')),
    loss_alpha=dict(type='CharbonnierLoss', loss_weight=0.5),
    loss_comp=dict(type='CharbonnierCompLoss', loss_weight=0.5),
    train_cfg=dict(train_backbone=True, train_refiner=False),
    test_cfg=dict(refine=False,
                  resize=dict(type='PadToMultiple', divisor=32, position='bottom_right',
                              mode='reflect')),
)

train_cfg = dict(type='IterBasedTrainLoop', max_iters=1_000_000, val_interval=40_000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=0.00001))

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=40_000, by_epoch=False,
                    save_last=True, max_keep_ckpts=3, save_best='SAD', rule='less'),
)
