# A tiny TDM, stage 1 (localisation): the trimap (STM) and binary-mask (SG) losses on
# the synthetic referring data (2-3 coloured objects per image, 4 expressions each) with
# the paper's source schedule (soft alphas / binarised "refcoco" / an extra fifth
# iteration), images at 128 x 128 (the coarse path at 64), on a CPU in minutes. Stage 2
# adds transparency (the alpha, composite and refiner losses):
# tdm_tiny_stage2_synthetic-referring.py.
#   python tools/dataset_converters/make_synthetic.py data/synthetic_referring_128 \
#       --referring --num-train 200 --num-test 20 --size 128 128
#   python tools/train.py configs/sdmatte/latent_codec_kl_tiny_synthetic.py
#   python tools/train.py configs/tdm/tdm_tiny_stage1_synthetic-referring.py --cfg-options \
#       model.pretrained.vae=work_dirs/latent_codec_kl_tiny_synthetic/iter_800.pth
_base_ = ['./_base_/tdm_tiny.py', '../_base_/datasets/synthetic_referring_mix.py',
          '../_base_/default_runtime.py']

experiment_name = 'tdm_tiny_stage1_synthetic-referring'
work_dir = f'./work_dirs/{experiment_name}'
max_iters = 2000

# the base's pipelines at 128 x 128 (the base is 64: no room for a second scale)
data_root = 'data/synthetic_referring_128'
input_size = 128
train_pipeline = [
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='LoadReferringAlpha'),
    dict(type='Resize', keys=['merged', 'alpha'], scale=(input_size, input_size),
         keep_ratio=False),
    dict(type='ReferringFlip', keys=['merged', 'alpha'], flip_ratio=0.5),
    dict(type='PackMattingInputs'),
]
binary_pipeline = [
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='LoadReferringAlpha'),
    dict(type='Resize', keys=['merged', 'alpha'], scale=(input_size, input_size),
         keep_ratio=False),
    dict(type='BinarizeAlpha', threshold=128),
    dict(type='ReferringFlip', keys=['merged', 'alpha'], flip_ratio=0.5),
    dict(type='PackMattingInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='LoadReferringAlpha'),
    dict(type='Resize', keys=['merged', 'alpha'], scale=(input_size, input_size),
         keep_ratio=False),
    dict(type='UseAsOriginal', keys=['alpha']),
    dict(type='PackMattingInputs'),
]
train_dataloader = dict(dataset=dict(sources=dict(
    refmatte=dict(data_root=data_root, pipeline=train_pipeline),
    refcoco=dict(data_root=data_root, pipeline=binary_pipeline),
    captioned=dict(data_root=data_root, pipeline=train_pipeline))))
# testing: every instance with each of its 4 expressions, plus the same instance with
# another object's expression (distractors): SAD_distractor vs SAD is the grounding check
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline,
                                   distractors=True))
test_dataloader = val_dataloader
# the transition band: TDM's 15 at 512 px -> 4 at 128 px; odd: 5
val_evaluator = dict(type='ReferringMattingMetric', transition_kernel=5)
test_evaluator = val_evaluator

model = dict(
    loss=dict(terms=dict(ctm=dict(weight=0.0), alpha_lr=dict(weight=0.0), r=dict(weight=0.0))),
    train_cfg=dict(refine=False),
)

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=100_000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# the paper: AdamW; the tiny run uses a larger rate
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                                    weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_iters - 50, eta_min=1e-5, by_epoch=False,
         begin=50, end=max_iters),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=500, by_epoch=False, save_last=True,
                    max_keep_ckpts=2),
)
custom_hooks = [dict(type='MattingVisualizationHook', num_samples=4)]
randomness = dict(seed=0)
# tools/infer.py and MattingInferencer: the image and the expression; the model squashes
# to its coarse size itself
inference_pipeline = [dict(type='PackMattingInputs')]
