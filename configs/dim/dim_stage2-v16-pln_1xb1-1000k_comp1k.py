# DIM stage 2: the refinement stage alone, on a frozen stage-1 encoder-decoder.
_base_ = ['./dim_stage1-v16_1xb1-1000k_comp1k.py']

experiment_name = 'dim_stage2-v16-pln_1xb1-1000k_comp1k'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    refiner=dict(type='PlainRefiner'),
    loss_refine=dict(type='CharbonnierLoss', loss_weight=1.0),
    train_cfg=dict(train_backbone=False, train_refiner=True),
    test_cfg=dict(refine=True),
)

# Start from the stage-1 result (train stage 1 first, or override with
# --cfg-options load_from=PATH). A stage-1 checkpoint has no refiner: say so, or the
# strict load refuses it (any other missing or unexpected key is still an error).
load_from = './work_dirs/dim_stage1-v16_1xb1-1000k_comp1k/iter_1000000.pth'
partial_load = dict(allow_missing=['refiner.'])
