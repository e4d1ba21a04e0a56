# SDMatte*: the same network, trained with box prompts only (the paper trains it on
# another data mix, which its code does not name: give yours in train_dataloader).
_base_ = ['./sdmatte_sd2_8xb1-30k_matting-mix.py']

experiment_name = 'sdmatte-star_sd2_8xb1-30k_matting-mix'
work_dir = f'./work_dirs/{experiment_name}'
model = dict(train_cfg=dict(prompt_types=('boxes', )),
             test_cfg=dict(prompt_order=('boxes', )))
find_unused_parameters = True
