import pytest

from mattebox.engine.config_check import ConfigError, check_config


def test_valid_config_passes(tiny_cfg):
    assert check_config(tiny_cfg, 'train') is None
    assert check_config(tiny_cfg, 'test') is None


def test_all_problems_listed_together_with_keys(tiny_cfg, tmp_path):
    tiny_cfg.model.backbone.decoder.type = 'PlainDecodr'
    tiny_cfg.train_dataloader.dataset.pipeline[1].type = 'LoadImageFromFiles'
    tiny_cfg.model.backbone.encoder.pretrained = str(tmp_path / 'vgg16.pth')
    tiny_cfg.load_from = str(tmp_path / 'stage1.pth')
    with pytest.raises(ConfigError) as info:
        check_config(tiny_cfg, 'train')
    msg = str(info.value)
    assert msg.startswith('4 problem(s) in config')
    assert ("model.backbone.decoder.type: unknown model type 'PlainDecodr'" in msg
            and "Did you mean 'PlainDecoder'" in msg)
    assert "train_dataloader.dataset.pipeline[1].type: unknown transform type" in msg
    assert f'model.backbone.encoder.pretrained: file not found: {tmp_path}/vgg16.pth' in msg
    assert f'load_from: checkpoint not found: {tmp_path}/stage1.pth' in msg


def test_test_mode_checks_only_the_test_data(tiny_cfg, tmp_path):
    tiny_cfg.train_dataloader.dataset.data_root = str(tmp_path / 'missing')
    assert check_config(tiny_cfg, 'test') is None  # training data is not needed to test
    tiny_cfg.test_dataloader.dataset.ann_file = 'nope.json'
    with pytest.raises(ConfigError, match=r'test_dataloader.dataset.ann_file: file not found: '
                       r'.*nope.json'):
        check_config(tiny_cfg, 'test')


def test_resume_without_checkpoint_does_not_need_load_from(tiny_cfg):
    tiny_cfg.resume, tiny_cfg.load_from = True, None
    assert check_config(tiny_cfg, 'train') is None
    tiny_cfg.resume = False
    tiny_cfg.load_from = '/nonexistent/ckpt.pth'
    with pytest.raises(ConfigError, match='load_from: checkpoint not found'):
        check_config(tiny_cfg, 'train')


def test_missing_prior_checkpoint_is_reported(synthetic_root, tmp_path):
    from mmengine.config import Config
    from tests.conftest import ROOT
    cfg = Config.fromfile(f'{ROOT}/configs/diffusionmat/diffusionmat_tiny_synthetic.py')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = synthetic_root
    cfg.model.prior_checkpoint = str(tmp_path / 'prior.pth')
    with pytest.raises(ConfigError, match=r'model.prior_checkpoint: file not found'):
        check_config(cfg, 'train')


def test_components_declare_their_file_arguments(tiny_cfg, tmp_path):
    """A new component's file arguments are checked because it declares them: nothing in
    the checker lists a family's keys."""
    from mattebox.engine.config_check import file_arguments
    from mattebox.models.backbones.vgg import VGG16
    from mattebox.registry import MODELS

    @MODELS.register_module(force=True)
    class _WeightsHead(VGG16):
        FILE_ARGUMENTS = ('weights_file', )

    tiny_cfg.model.backbone.encoder.type = '_WeightsHead'
    tiny_cfg.model.backbone.encoder.weights_file = str(tmp_path / 'head.pth')
    tiny_cfg.model.init_cfg = dict(type='Pretrained', checkpoint=str(tmp_path / 'init.pth'))
    found = {(k, n) for k, n, _ in file_arguments(tiny_cfg.model.to_dict())}
    assert found == {('model.backbone.encoder', 'weights_file'),
                     ('model.init_cfg', 'checkpoint')}
    with pytest.raises(ConfigError) as info:
        check_config(tiny_cfg, 'train')
    assert 'model.backbone.encoder.weights_file: file not found' in str(info.value)
    assert 'model.init_cfg.checkpoint: file not found' in str(info.value)
    MODELS._module_dict.pop('_WeightsHead')


def test_mode_is_validated(tiny_cfg):
    with pytest.raises(ValueError, match="mode must be 'train' or 'test'"):
        check_config(tiny_cfg, 'val')


def test_multi_source_datasets_and_batch_sampler_are_checked(tiny_cfg, tmp_path):
    good = dict(type='RefMatteDataset', data_root=str(tmp_path), ann_file='labels.json',
                pipeline=[dict(type='PackMattingInputs')])
    (tmp_path / 'labels.json').write_text('{}')
    tiny_cfg.train_dataloader.dataset = dict(type='MultiSourceDataset', sources=dict(
        refmatte=good,
        refcoco=dict(good, data_root=str(tmp_path / 'missing')),
        p3m=dict(good, type='CaptionedFolderDatset',
                 pipeline=[dict(type='LoadReferingAlpha')])))
    tiny_cfg.train_dataloader.batch_sampler = dict(type='SourceScheduleSampler')
    with pytest.raises(ConfigError) as info:
        check_config(tiny_cfg, 'train')
    msg = str(info.value)
    assert msg.startswith('4 problem(s) in config')
    assert "train_dataloader.dataset.sources.p3m.type: unknown dataset type" in msg
    assert "Did you mean 'CaptionedFolderDataset'" in msg
    assert 'train_dataloader.dataset.sources.p3m.pipeline[0].type: unknown transform' in msg
    assert 'train_dataloader.batch_sampler.type: unknown data sampler type' in msg
    assert (f'train_dataloader.dataset.sources.refcoco.data_root: folder not found: '
            f'{tmp_path}/missing') in msg
