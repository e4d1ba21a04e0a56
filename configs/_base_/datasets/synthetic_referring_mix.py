# The TDM source schedule on synthetic data (tiny configs): the synthetic referring set
# three times: as 'refmatte' (soft alphas), as 'refcoco' (alphas binarised, binary_gt:
# exercises the SG loss) and as 'captioned' (the extra fifth iteration). Test: as
# synthetic_referring.py.
_base_ = ['./synthetic_referring.py']

source_schedule = ['refmatte', 'refcoco', 'refmatte', 'refcoco', ['captioned']]

binary_pipeline = [
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='LoadReferringAlpha'),
    dict(type='Resize', keys=['merged', 'alpha'], scale=(64, 64), keep_ratio=False),
    dict(type='BinarizeAlpha', threshold=128),
    dict(type='ReferringFlip', keys=['merged', 'alpha'], flip_ratio=0.5),
    dict(type='PackMattingInputs'),
]
_source = dict(type='RefMatteDataset', data_root={{_base_.data_root}},
               ann_file='json/refmatte_train_label.json', layout='train',
               expression_mode='random')
train_dataloader = dict(
    _delete_=True,
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),  # required by mmengine; unused
    # iteration-based training: one long "epoch" (the batches are a pure function of the
    # seed and the iteration, so a resumed run continues the same sequence)
    batch_sampler=dict(type='SourceScheduleBatchSampler', schedule=source_schedule,
                       iters_per_epoch=1_000_000),
    dataset=dict(
        type='MultiSourceDataset',
        sources=dict(
            refmatte=dict(_source, source='refmatte', pipeline={{_base_.train_pipeline}}),
            refcoco=dict(_source, source='refcoco', pipeline=binary_pipeline),
            captioned=dict(_source, source='captioned', pipeline={{_base_.train_pipeline}}),
        )),
)
