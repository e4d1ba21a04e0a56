# A tiny TDM, stage 2 (transparency): every loss (STM, CTM, SG, alpha_lr, R at the
# paper's weights 10 / 0.1 / 0.5 / 10 / 1) and the two-scale refiner, starting from the
# stage-1 checkpoint (which brings the frozen VAE).
#   python tools/train.py configs/tdm/tdm_tiny_stage2_synthetic-referring.py --cfg-options \
#       load_from=work_dirs/tdm_tiny_stage1_synthetic-referring/iter_2000.pth
#   python tools/test.py configs/tdm/tdm_tiny_stage2_synthetic-referring.py \
#       work_dirs/tdm_tiny_stage2_synthetic-referring/iter_1000.pth
#   python tools/infer.py configs/tdm/tdm_tiny_stage2_synthetic-referring.py CKPT \
#       image.png --text "the red object" --out results
_base_ = ['./tdm_tiny_stage1_synthetic-referring.py']

experiment_name = 'tdm_tiny_stage2_synthetic-referring'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    loss=dict(_delete_=True, type='TDMLoss', trimap_kernel=3),
    train_cfg=dict(refine=True, allow_random_vae=True),  # load_from brings the VAE
)

# half as long as stage 1 (the refiner makes a step ~3x dearer on a CPU)
max_iters = 1000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=100_000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_iters - 50, eta_min=1e-5, by_epoch=False,
         begin=50, end=max_iters),
]
