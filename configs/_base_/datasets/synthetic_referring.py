# Synthetic REFERRING matting data (2-3 coloured objects per image, 4 expressions per
# object: colour, position, size, combined) in the RefMatte layout, made by
#   python tools/dataset_converters/make_synthetic.py data/synthetic_referring \
#       --referring --num-train 200 --num-test 20 --size 64 64
# Read by the real RefMatteDataset loader; tests and the tiny TDM configs use it.
dataset_type = 'RefMatteDataset'
data_root = 'data/synthetic_referring'
input_size = 64

# Training: the image and the instance's alpha squashed to input_size (as RefMatte's
# 512 x 512), a horizontal flip that swaps "left" / "right" in the expression, one
# expression drawn per load.
train_pipeline = [
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='LoadReferringAlpha'),
    dict(type='Resize', keys=['merged', 'alpha'], scale=(input_size, input_size),
         keep_ratio=False),
    dict(type='ReferringFlip', keys=['merged', 'alpha'], flip_ratio=0.5),
    dict(type='PackMattingInputs'),
]
# Testing: every instance with each of its 4 expressions, scored at input_size.
test_pipeline = [
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='LoadReferringAlpha'),
    dict(type='Resize', keys=['merged', 'alpha'], scale=(input_size, input_size),
         keep_ratio=False),
    dict(type='UseAsOriginal', keys=['alpha']),
    dict(type='PackMattingInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file='json/refmatte_train_label.json', layout='train',
                 expression_mode='random', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file='json/refmatte_test_label.json', layout='test',
                 expression_mode='all', test_mode=True, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
# Grounding check: add distractors=True to the test dataset (same ground truth, another
# object's expression); the metric then also reports SAD_distractor etc.
# transition_kernel 3: TDM's 15 at 512 px scaled to 64 px.
val_evaluator = dict(type='ReferringMattingMetric', transition_kernel=3)
test_evaluator = val_evaluator
