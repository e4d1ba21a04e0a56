# TDM (Xiang et al., TMLR 2025) stage 1, localisation: Stable Diffusion 2.1 fine-tuned
# with the trimap (STM, weight 10) and binary-mask (SG, 0.5) losses on the paper's
# source schedule (RefMatte odd iterations, RefCOCO even ones, P3M-10K / AM-2K / RM-1K
# after every 4), 512 x 512. Stage 2: tdm_sd21_stage2_8xb4_refmatte-mix.py.
# Iterations, learning rate, batch and GPU count are not in the paper: documented
# guesses (configs/tdm/README.md).
#   bash tools/dist_train.sh configs/tdm/tdm_sd21_stage1_8xb4_refmatte-mix.py 8 \
#       --cfg-options model.pretrained.unet=PATH/stable-diffusion-2-1/unet \
#       model.pretrained.vae=PATH/stable-diffusion-2-1/vae \
#       model.pretrained.text_encoder=PATH/stable-diffusion-2-1/text_encoder \
#       model.text_encoder.tokenizer=PATH/stable-diffusion-2-1/tokenizer
_base_ = ['./_base_/tdm_sd21.py', '../_base_/datasets/tdm_mix_512.py',
          '../_base_/default_runtime.py']

experiment_name = 'tdm_sd21_stage1_8xb4_refmatte-mix'
work_dir = f'./work_dirs/{experiment_name}'
max_iters = 20_000

model = dict(
    loss=dict(terms=dict(ctm=dict(weight=0.0), alpha_lr=dict(weight=0.0), r=dict(weight=0.0))),
    train_cfg=dict(refine=False),
)

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters // 4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# AdamW (the paper); rate and decay as E2E-FT's one-step fine-tuning (a guess)
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=3e-5, betas=(0.9, 0.999),
                                    weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', T_max=max_iters - 500, eta_min=1e-7, by_epoch=False,
         begin=500, end=max_iters),
]
# stage 1 leaves the alpha head and the refiner without a loss
find_unused_parameters = True

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=max_iters // 4, by_epoch=False,
                    save_last=True, max_keep_ckpts=2),
)
inference_pipeline = [dict(type='PackMattingInputs')]
