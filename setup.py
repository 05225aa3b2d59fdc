from setuptools import find_packages, setup

setup(
    name='sam2love',
    version='0.1.0',
    description='SAM2-LOVE: referring audio-visual video segmentation '
    '(CVPR 2025) as an MMSegmentation plugin',
    packages=find_packages(include=['sam2love', 'sam2love.*']),
    python_requires='>=3.10',
)
