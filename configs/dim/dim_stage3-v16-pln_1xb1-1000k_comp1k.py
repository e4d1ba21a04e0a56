# DIM stage 3: encoder-decoder and refiner fine-tuned end to end.
_base_ = ['./dim_stage1-v16_1xb1-1000k_comp1k.py']

experiment_name = 'dim_stage3-v16-pln_1xb1-1000k_comp1k'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    refiner=dict(type='PlainRefiner'),
    loss_refine=dict(type='CharbonnierLoss', loss_weight=1.0),
    train_cfg=dict(train_backbone=True, train_refiner=True),
    test_cfg=dict(refine=True),
)

# Start from the stage-2 result (or override with --cfg-options load_from=PATH).
load_from = './work_dirs/dim_stage2-v16-pln_1xb1-1000k_comp1k/iter_1000000.pth'
