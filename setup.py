"""Install mattebox: ``pip install -e .`` (extras: tests, diffusion, app, sparse, all)."""
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name: str) -> list:
    with open(osp.join(HERE, 'requirements', name), encoding='utf-8') as f:
        return [line.split('#')[0].strip() for line in f
                if line.split('#')[0].strip() and not line.startswith('-')]


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'mattebox', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


extras = {
    'tests': read_requirements('tests.txt'),
    'diffusion': read_requirements('diffusion.txt'),
    'app': read_requirements('app.txt'),  # tools/app.py, the interactive page (Gradio)
    'sparse': read_requirements('sparse.txt'),  # spconv: the TDM refiner's sparse backend
}
extras['all'] = sorted({r for reqs in extras.values() for r in reqs})

setup(
    name='mattebox',
    version=read_version(),
    description='An image-matting toolbox in the OpenMMLab style (DIM, DiffusionMat).',
    long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read()
    if osp.exists(osp.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['mattebox', 'mattebox.*']),
    install_requires=read_requirements('runtime.txt'),
    extras_require=extras,
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Image Processing',
    ],
)
