# TDM stage 2, transparency: every loss at the paper's weights (STM 10, CTM 0.1, SG 0.5,
# alpha_lr 10, R 1) and the two-scale sparse refiner, from the stage-1 checkpoint.
# Test: RefMatte-Test (all 4 expressions per instance, averaged, at 512 x 512).
#   bash tools/dist_train.sh configs/tdm/tdm_sd21_stage2_8xb4_refmatte-mix.py 8 \
#       --cfg-options load_from=work_dirs/tdm_sd21_stage1_8xb4_refmatte-mix/iter_20000.pth \
#       model.text_encoder.tokenizer=PATH/stable-diffusion-2-1/tokenizer
#   python tools/test.py configs/tdm/tdm_sd21_stage2_8xb4_refmatte-mix.py CKPT \
#       --cfg-options model.text_encoder.tokenizer=PATH/stable-diffusion-2-1/tokenizer
_base_ = ['./tdm_sd21_stage1_8xb4_refmatte-mix.py']

experiment_name = 'tdm_sd21_stage2_8xb4_refmatte-mix'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    loss=dict(_delete_=True, type='TDMLoss', trimap_kernel=15),
    # load_from brings every weight (the stage-1 run started from Stable Diffusion 2.1)
    train_cfg=dict(refine=True, allow_scratch=True, allow_random_vae=True),
)
# a batch whose coarse trimap has no unknown band leaves the refiner without a loss
find_unused_parameters = True
