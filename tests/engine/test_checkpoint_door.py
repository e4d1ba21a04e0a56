"""Checkpoint loading has one door: URLs are refused wherever they come from (nothing is
fetched, nothing is unpickled), ``last_checkpoint`` is checked before a resume."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

from mattebox.engine.checkpoint import (CheckpointURLError, is_url, load_checkpoint_file,
                                        load_model_weights)
from mattebox.engine.config_check import ConfigError, check_config
from mattebox.engine.runner import ResumeError, resolve_resume
from tests.conftest import ROOT, tiny_dim_cfg


class Payload:
    """Unpickling it runs ``touch MARKER``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


@pytest.fixture
def no_download(monkeypatch):
    """Fail the test if anything reaches torch's hub downloader or cache loader."""
    def forbidden(*args, **kwargs):
        raise AssertionError(f'torch.hub was called: {args}')
    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', forbidden)
    monkeypatch.setattr(torch.hub, 'download_url_to_file', forbidden)


@pytest.mark.parametrize('url', ['http://x/a.pth', 'https://x/a.pth', 's3://bucket/a.pth',
                                 'torchvision://vgg16', 'open-mmlab://resnet50',
                                 'openmmlab://x', 'mmcls://x', 'pavi://x', 'modelzoo://x',
                                 'open-mmlab:s3://x', 'ftp://x/a.pth'])
def test_every_remote_scheme_is_refused(url, no_download):
    assert is_url(url)
    with pytest.raises(CheckpointURLError, match='never downloads weights'):
        _load_checkpoint(url)  # mmengine's door: Runner, load_from, init_cfg Pretrained
    with pytest.raises(CheckpointURLError, match='never downloads weights'):
        load_checkpoint_file(url)  # mattebox's door: pretrained, converters, the API
    with pytest.raises(CheckpointURLError):
        load_model_weights(torch.nn.Linear(1, 1), url)


def test_local_paths_are_not_urls():
    assert not any(is_url(p) for p in ['work_dirs/x/iter_2.pth', '/abs/a.pth', 'C:\\a.pth',
                                       './http/a.pth', 'a:b.pth', ''])
    assert CheckpointLoader._get_checkpoint_loader('/x/a.pth').__name__ == 'load_from_local'


def test_config_check_names_the_key_of_a_url(tiny_cfg):
    tiny_cfg.model.backbone.encoder.pretrained = 'https://x/vgg16.pth'
    tiny_cfg.load_from = 'http://x/dim.pth'
    with pytest.raises(ConfigError) as info:
        check_config(tiny_cfg, 'train')
    message = str(info.value)
    assert ('model.backbone.encoder.pretrained: https://x/vgg16.pth is a URL; weights are '
            'never downloaded') in message
    assert 'load_from: http://x/dim.pth is a URL' in message


def _work(tmp_path, pointer=None) -> Config:
    cfg = Config(dict(work_dir=str(tmp_path / 'work'), resume=True, load_from=None))
    os.makedirs(cfg.work_dir, exist_ok=True)
    if pointer is not None:
        with open(osp.join(cfg.work_dir, 'last_checkpoint'), 'w') as f:
            f.write(pointer)
    return cfg


def test_resume_reads_and_checks_last_checkpoint(tmp_path):
    cfg = _work(tmp_path)
    assert resolve_resume(cfg) is None and cfg.load_from is None  # no pointer: fresh start
    ckpt = tmp_path / 'work' / 'iter_4.pth'
    torch.save({'meta': {'iter': 4}}, ckpt)
    cfg = _work(tmp_path, f'{ckpt}\n')
    assert resolve_resume(cfg) == str(ckpt) and cfg.load_from == str(ckpt)


@pytest.mark.parametrize('pointer, message', [
    ('', 'last_checkpoint is empty: it should name the checkpoint to resume from; '
         'checkpoints in {work}: iter_4.pth'),
    ('{work}/iter_6.pth', '(last_checkpoint) names {work}/iter_6.pth, which does not exist; '
                          'checkpoints in {work}: iter_4.pth; resume from one with --resume'),
    ('{tmp}/elsewhere/iter_2.pth', '(last_checkpoint) names {tmp}/elsewhere/iter_2.pth, '
                                   'outside the work folder {work}'),
    ('{work}/../iter_2.pth', 'outside the work folder'),
])
def test_bad_last_checkpoint_is_named(tmp_path, pointer, message):
    work = tmp_path / 'work'
    work.mkdir()
    torch.save({'meta': {'iter': 4}}, work / 'iter_4.pth')
    cfg = _work(tmp_path, pointer.format(work=work, tmp=tmp_path))
    with pytest.raises(ResumeError) as info:
        resolve_resume(cfg)
    assert message.format(work=work, tmp=tmp_path) in str(info.value)


def test_checkpoint_hook_out_dir_counts_as_the_runs_folder(tmp_path):
    out = tmp_path / 'ckpts' / 'work'
    out.mkdir(parents=True)
    torch.save({'meta': {'iter': 2}}, out / 'iter_2.pth')
    cfg = _work(tmp_path, str(out / 'iter_2.pth'))
    cfg.default_hooks = dict(checkpoint=dict(type='CheckpointHook', out_dir=str(tmp_path /
                                                                               'ckpts')))
    assert resolve_resume(cfg) == str(out / 'iter_2.pth')


def test_url_in_last_checkpoint_is_refused_by_name(tmp_path, no_download):
    cfg = _work(tmp_path, 'https://example.invalid/evil.pth')
    with pytest.raises(CheckpointURLError) as info:
        resolve_resume(cfg)
    assert str(info.value).startswith(
        f'{tmp_path}/work/last_checkpoint (last_checkpoint): https://example.invalid/evil.pth'
        ' is a URL; mattebox never downloads weights')


def test_resume_path_and_load_from_urls_are_refused(tmp_path):
    cfg = _work(tmp_path)
    cfg.load_from = 'http://x/a.pth'
    with pytest.raises(CheckpointURLError, match='^--resume: http://x/a.pth is a URL'):
        resolve_resume(cfg)
    cfg.resume = False
    with pytest.raises(CheckpointURLError, match='^load_from: http://x/a.pth is a URL'):
        resolve_resume(cfg)


def test_planted_url_with_a_poisoned_hub_cache_runs_nothing(synthetic_root, tmp_path):
    """The attack of the issue, as a user meets it: ``last_checkpoint`` names an http URL
    whose file sits in the torch hub cache as a pickle that runs a command; no network
    is needed for mmengine's http loader to unpickle it (weights_only=False)."""
    torch_home = tmp_path / 'torch_home'
    hub = torch_home / 'hub' / 'checkpoints'
    hub.mkdir(parents=True)
    marker = tmp_path / 'PWNED'
    torch.save({'meta': {'iter': 2, 'epoch': 0}, 'state_dict': {},
                'x': Payload(str(marker))}, hub / 'evil.pth')
    cfg = tiny_dim_cfg(synthetic_root, str(tmp_path / 'work'), max_iters=2)
    cfg.dump(str(tmp_path / 'cfg.py'))
    (tmp_path / 'work').mkdir()
    (tmp_path / 'work' / 'last_checkpoint').write_text('http://example.invalid/evil.pth')
    proc = subprocess.run([sys.executable, 'tools/train.py', str(tmp_path / 'cfg.py'),
                           '--resume'], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, 'PYTHONPATH': ROOT, 'TORCH_HOME': str(torch_home)})
    assert proc.returncode == 2
    assert not marker.exists(), 'the pickle ran'
    assert proc.stderr.strip() == (
        f'error: {tmp_path}/work/last_checkpoint (last_checkpoint): '
        'http://example.invalid/evil.pth is a URL; mattebox never downloads weights (nor '
        'loads a cached download, which torch would unpickle unsafely). Download the file '
        'yourself from a source you trust and give its local path.')
    assert not (tmp_path / 'work' / 'iter_2.pth').exists()  # and nothing was trained
