# RefMatte (Li et al., CVPR 2023) for text-grounded matting, TDM's protocol: image and
# alpha squashed to 512 x 512 (aspect ratio not kept); training draws one of the
# instance's expressions per load; testing uses every instance with each of its 4
# expressions and averages (ReferringMattingMetric: whole-image SAD / MSE / MAD,
# transition-region SAD-T / MSE-T, Grad, Conn, at 512 x 512).
# Layout and preparation: docs/datasets.md, "RefMatte". RefMatte-RW100: test_rw100 below.
dataset_type = 'RefMatteDataset'
data_root = 'data/RefMatte'
rw100_root = 'data/RefMatte_RW_100'
input_size = 512

train_pipeline = [
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='LoadReferringAlpha'),
    dict(type='Resize', keys=['merged', 'alpha'], scale=(input_size, input_size),
         keep_ratio=False),
    # A horizontal flip with "left" <-> "right" swapped in the expression (TDM does not
    # say whether it flips; flip_ratio=0 turns it off).
    dict(type='ReferringFlip', keys=['merged', 'alpha'], flip_ratio=0.5),
    dict(type='PackMattingInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='LoadReferringAlpha'),
    dict(type='Resize', keys=['merged', 'alpha'], scale=(input_size, input_size),
         keep_ratio=False),
    dict(type='UseAsOriginal', keys=['alpha']),  # predict and score at 512 x 512
    dict(type='PackMattingInputs'),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file='json/refmatte_train_label.json', layout='train',
                 expression_mode='random', pipeline=train_pipeline),
)
test_refmatte = dict(type=dataset_type, data_root=data_root,
                     ann_file='json/refmatte_test_label.json', layout='test',
                     expression_mode='all', test_mode=True, pipeline=test_pipeline)
test_rw100 = dict(type=dataset_type, data_root=rw100_root,
                  ann_file='refmatte_rw100_label.json', layout='rw100',
                  expression_mode='all', test_mode=True, pipeline=test_pipeline)
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=test_refmatte,
)
test_dataloader = val_dataloader  # RW100: --cfg-options test_dataloader.dataset=... or a child config
val_evaluator = dict(type='ReferringMattingMetric', transition_kernel=15)
test_evaluator = val_evaluator
