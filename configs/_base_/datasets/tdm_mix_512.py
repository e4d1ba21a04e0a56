# TDM's training data (Xiang et al., TMLR 2025): RefMatte at odd iterations, RefCOCO at
# even ones, and after every 4 iterations one on P3M-10K / AM-2K / RM-1K in turn
# (captions made offline); every batch from one source; images squashed to 512 x 512.
# Layouts and preparation: docs/datasets.md ("Referring matting"). Testing: RefMatte's
# protocol from refmatte.py.
_base_ = ['./refmatte.py']

source_schedule = ['refmatte', 'refcoco', 'refmatte', 'refcoco', ['p3m', 'am2k', 'rm1k']]

refcoco_pipeline = [
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='LoadReferringAlpha'),  # the ref's COCO polygons / RLE -> 0 / 255 mask
    dict(type='Resize', keys=['merged', 'alpha'], scale=(512, 512), keep_ratio=False),
    dict(type='ReferringFlip', keys=['merged', 'alpha'], flip_ratio=0.5),
    dict(type='PackMattingInputs'),
]
captioned_pipeline = [
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale'),
    dict(type='Resize', keys=['merged', 'alpha'], scale=(512, 512), keep_ratio=False),
    dict(type='ReferringFlip', keys=['merged', 'alpha'], flip_ratio=0.5),
    dict(type='PackMattingInputs'),
]
train_dataloader = dict(
    _delete_=True,
    batch_size=4,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),  # required by mmengine; unused
    # iteration-based training: one long "epoch" (the batches are a pure function of the
    # seed and the iteration, so a resumed run continues the same sequence)
    batch_sampler=dict(type='SourceScheduleBatchSampler', schedule=source_schedule,
                       iters_per_epoch=1_000_000),
    dataset=dict(
        type='MultiSourceDataset',
        sources=dict(
            refmatte=dict(type='RefMatteDataset', data_root='data/RefMatte',
                          ann_file='json/refmatte_train_label.json', layout='train',
                          expression_mode='random', pipeline={{_base_.train_pipeline}}),
            refcoco=dict(type='RefCOCODataset', data_root='data/refer',
                         ann_file='refcoco/refs(unc).json',
                         instances_file='refcoco/instances.json',
                         img_dir='images/mscoco/images/train2014', split='train',
                         expression_mode='random', pipeline=refcoco_pipeline),
            p3m=dict(type='CaptionedFolderDataset', data_root='data/P3M-10k',
                     image_dir='train/blurred_image', alpha_dir='train/mask',
                     captions_file='captions/p3m_train_captions.json', source='p3m',
                     pipeline=captioned_pipeline),
            am2k=dict(type='CaptionedFolderDataset', data_root='data/AM-2k',
                      image_dir='train/original', alpha_dir='train/mask',
                      captions_file='captions/am2k_train_captions.json', source='am2k',
                      pipeline=captioned_pipeline),
            rm1k=dict(type='CaptionedFolderDataset', data_root='data/RM-1k',
                      image_dir='image', alpha_dir='alpha',
                      captions_file='captions/rm1k_captions.json', source='rm1k',
                      pipeline=captioned_pipeline),
        )),
)
