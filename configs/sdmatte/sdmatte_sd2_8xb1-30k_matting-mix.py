# SDMatte (ICCV 2025) at the paper's settings: Stable Diffusion 2 grafted for interactive
# matting; 8 GPUs x batch 1, 30.5k iterations (10 epochs of 24,401 samples), AdamW lr 5e-5,
# betas (0.9, 0.999), weight decay 0.1 (none on norms), 200 warm-up iterations, then an
# exponential decay to 0.005x at the end. Box prompts on AIM-500 at test time (the
# _test-point / _test-mask configs switch the prompt).
#   bash tools/dist_train.sh configs/sdmatte/sdmatte_sd2_8xb1-30k_matting-mix.py 8 \
#       --cfg-options model.pretrained.unet=PATH/stable-diffusion-2/unet \
#       model.pretrained.vae=PATH/stable-diffusion-2/vae \
#       model.pretrained.text_encoder=PATH/stable-diffusion-2/text_encoder
#   python tools/test.py configs/sdmatte/sdmatte_sd2_8xb1-30k_matting-mix.py SDMatte_mb.pth
_base_ = ['./_base_/sdmatte_sd2.py', './_base_/matting_mix_512.py',
          '../_base_/default_runtime.py']

experiment_name = 'sdmatte_sd2_8xb1-30k_matting-mix'
work_dir = f'./work_dirs/{experiment_name}'
max_iters = 30_501

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters // 10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=5e-5, betas=(0.9, 0.999),
                                    weight_decay=0.1),
                     paramwise_cfg=dict(norm_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=200),
    dict(type='ExponentialLR', gamma=0.005**(1 / max_iters), by_epoch=False, begin=0,
         end=max_iters),
]
# one of the point / box coordinate MLPs is unused at each step
find_unused_parameters = True

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=max_iters // 10, by_epoch=False,
                    save_last=True, max_keep_ckpts=3),
)
