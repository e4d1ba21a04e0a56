"""Outputs never overwrite inputs: one mechanism (mattebox.engine.outputs) for every tool:
test.py --out / --save-pred, evaluate.py --out, the converters, infer.py."""
import json
import os
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
import torch

from mattebox.engine.errors import OutputRefusedError
from mattebox.engine.outputs import (MANIFEST, OutputFile, OutputFolder, dataset_folders,
                                     read_manifest, record_outputs)
from tests.conftest import ROOT


def test_output_file_rules(tmp_path):
    mine = tmp_path / 'results.json'
    mine.write_text('{"mine": 1}')
    with pytest.raises(OutputRefusedError) as info:
        OutputFile(str(mine), 'tools/test.py', overwrite_flag=None)
    assert str(info.value) == (
        f'--out {mine}: refusing to overwrite it: it exists and was not written by '
        'tools/test.py. Choose another path, or remove it first if it may go.')
    with pytest.raises(OutputRefusedError, match='give --overwrite to replace it'):
        OutputFile(str(mine), 'tools/evaluate.py')
    assert mine.read_text() == '{"mine": 1}'
    # with --overwrite it may go; afterwards the same tool may replace its own file
    OutputFile(str(mine), 'tools/evaluate.py', overwrite=True).write_text('a')
    OutputFile(str(mine), 'tools/evaluate.py').write_text('b')
    assert mine.read_text() == 'b'
    assert read_manifest(str(tmp_path)) == {'results.json': 'tools/evaluate.py'}
    with pytest.raises(OutputRefusedError, match='it was written by tools/evaluate.py, not '
                                                 'by tools/test.py'):
        OutputFile(str(mine), 'tools/test.py')  # another tool's file
    # inputs and dataset folders: never, not even with --overwrite
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'ann.json').write_text('[]')
    with pytest.raises(OutputRefusedError, match='refusing to write over an input file'):
        OutputFile(str(data / 'ann.json'), 'x', inputs=[str(data / 'ann.json')],
                   overwrite=True)
    with pytest.raises(OutputRefusedError) as info:
        OutputFile(str(data / 'sub' / 'new.json'), 'x', protected=[str(data)], overwrite=True)
    assert f'refusing to write into the dataset folder {data}' in str(info.value)
    with pytest.raises(OutputRefusedError, match='is a folder'):
        OutputFile(str(data), 'x')


def test_output_folder_rules(tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    (images / 'a.png').write_bytes(b'img')
    with pytest.raises(OutputRefusedError, match='holds input files'):
        OutputFolder(str(images), 'tools/infer.py', inputs=[str(images / 'a.png')])
    out = tmp_path / 'out'
    folder = OutputFolder(str(out), 'tools/infer.py')
    folder.write_png('a_alpha.png', np.zeros((2, 3), np.uint8))
    assert cv2.imread(str(out / 'a_alpha.png'), cv2.IMREAD_UNCHANGED).shape == (2, 3)
    (out / 'b_alpha.png').write_bytes(b'not mine')
    folder = OutputFolder(str(out), 'tools/infer.py')  # a later run
    folder.write_bytes('a_alpha.png', b'again')  # its own file: fine
    with pytest.raises(OutputRefusedError, match='refusing to overwrite .*b_alpha.png: it '
                                                 'exists and was not written by'):
        folder.target('b_alpha.png')
    with pytest.raises(OutputRefusedError) as info:  # exclusive: no foreign file at all
        OutputFolder(str(out), 'tools/test.py', exclusive=True, label='--save-pred')
    assert str(info.value) == (f'--save-pred {out} holds 1 file(s) that mattebox did not '
                               'write (b_alpha.png); refusing to write into it. Choose an '
                               'empty or new folder.')
    with pytest.raises(OutputRefusedError, match='refusing to write into the dataset folder'):
        OutputFolder(str(tmp_path / 'images' / 'pred'), 'x', protected=[str(images)])


def test_legacy_infer_manifest_counts_as_infer_files(tmp_path):
    (tmp_path / '.mattebox-infer.json').write_text(json.dumps(
        {'tool': 'tools/infer.py', 'files': ['p_alpha.png']}))
    (tmp_path / 'p_alpha.png').write_bytes(b'x')
    OutputFolder(str(tmp_path), 'tools/infer.py').write_bytes('p_alpha.png', b'y')
    with pytest.raises(OutputRefusedError):
        OutputFolder(str(tmp_path), 'tools/test.py').target('p_alpha.png')


def test_damaged_manifest_is_not_trusted(tmp_path):
    (tmp_path / MANIFEST).write_text('{"files": ')
    with pytest.raises(OutputRefusedError, match=f'{MANIFEST} is damaged'):
        OutputFolder(str(tmp_path), 'tools/test.py')


def test_concurrent_writers_keep_every_entry(tmp_path):
    """Ranks of a distributed test record their predictions in one manifest."""
    def writer(rank):
        for i in range(20):
            record_outputs(str(tmp_path), [f'r{rank}_{i}.png'], 'tools/test.py')

    threads = [threading.Thread(target=writer, args=(r,)) for r in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(read_manifest(str(tmp_path))) == 80


def test_dataset_folders_of_a_config(tiny_cfg, synthetic_root):
    tiny_cfg.train_dataloader.dataset = dict(
        type='ConcatDataset', datasets=[dict(type='MattingFolderDataset',
                                             data_root='/d/folder', image_dir='img')])
    folders = dataset_folders(tiny_cfg)
    assert synthetic_root in folders and '/d/folder' in folders and '/d/folder/img' in folders


def _tool(*args):
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, 'PYTHONPATH': ROOT})


@pytest.fixture
def data_copy(synthetic_root, tmp_path, tiny_cfg):
    """A private copy of the synthetic data, a config over it, and a checkpoint."""
    import shutil
    data = tmp_path / 'data'
    shutil.copytree(synthetic_root, data)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        tiny_cfg[loader].dataset.data_root = str(data)
    tiny_cfg.dump(str(tmp_path / 'cfg.py'))
    from mmengine.registry import DefaultScope

    from mattebox.registry import MODELS
    with DefaultScope.overwrite_default_scope('mattebox'):
        model = MODELS.build(tiny_cfg.model)
    torch.save({'meta': {}, 'state_dict': model.state_dict()}, tmp_path / 'ckpt.pth')
    return data, str(tmp_path / 'cfg.py'), str(tmp_path / 'ckpt.pth')


def test_test_py_never_writes_into_the_dataset(data_copy, tmp_path):
    data, cfg, ckpt = data_copy
    annotation = (data / 'test_list.json').read_bytes()
    proc = _tool('tools/test.py', cfg, ckpt, '--out', data / 'test_list.json')
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr
    assert proc.stderr == (f'error: --out {data}/test_list.json: refusing to write into the '
                           f'dataset folder {data} (outputs never go into a dataset); '
                           'choose another path\n')
    assert (data / 'test_list.json').read_bytes() == annotation
    mattes = {n: (data / 'train/alpha' / n).read_bytes()
              for n in os.listdir(data / 'train/alpha')}
    proc = _tool('tools/test.py', cfg, ckpt, '--save-pred', data / 'train/alpha')
    assert proc.returncode == 2 and 'refusing to write into the dataset folder' in proc.stderr
    assert {n: (data / 'train/alpha' / n).read_bytes()
            for n in os.listdir(data / 'train/alpha')} == mattes
    # a folder of the user's files is refused too, before anything runs
    mine = tmp_path / 'mine'
    mine.mkdir()
    (mine / '0000.png').write_bytes(b'my picture')
    proc = _tool('tools/test.py', cfg, ckpt, '--save-pred', mine, '--out', tmp_path / 'm.json')
    assert proc.returncode == 2 and 'holds 1 file(s) that mattebox did not write' in proc.stderr
    assert (mine / '0000.png').read_bytes() == b'my picture'
    assert not (tmp_path / 'm.json').exists()


def test_evaluate_out_needs_overwrite_for_an_existing_file(synthetic_root, tmp_path):
    import shutil
    pred = tmp_path / 'pred'
    shutil.copytree(os.path.join(synthetic_root, 'test/alpha'), pred)
    out = tmp_path / 'old.csv'
    out.write_text('mine\n')
    args = ['tools/evaluate.py', pred, os.path.join(synthetic_root, 'test/alpha'),
            os.path.join(synthetic_root, 'test/trimap'), '--workers', '1', '--no-progress',
            '--out', out]
    proc = _tool(*args)
    assert proc.returncode == 2 and out.read_text() == 'mine\n'
    assert (f'--out {out}: refusing to overwrite it: it exists and was not written by '
            'tools/evaluate.py. Choose another path, or give --overwrite to replace it.'
            ) in proc.stderr
    assert _tool(*args, '--overwrite').returncode == 0
    assert out.read_text().startswith('name,pred,gt,trimap,SAD')
    assert _tool(*args).returncode == 0  # its own file now
