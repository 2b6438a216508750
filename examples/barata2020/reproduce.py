"""Reproduce barata2020 (Barata & Santiago, CVPR Workshops 2020) Tables 2–5 and Figures 1–4.

    python examples/barata2020/reproduce.py --data synthetic --quick --output runs/barata2020-quick
    python examples/barata2020/reproduce.py --data /data/ISIC2018 --table all --output runs/barata2020

``--quick`` on the embedded synthetic data takes minutes on 2 CPU cores (32×32, random encoders, both models
with Adam and CEL under {none, ES, OHEM}, one split). Full scale (299×299, 150/250 epochs, ImageNet VGG16, two
lesion-grouped 80/20 splits per row: 80 trainings) needs CUDA GPUs and the ISIC 2018 Task 3 training set with
HAM10000's lesion ids (docs/barata2020.md); spread it with ``--shard I/N`` and collect with ``dermkit report``.
Same as ``dermkit reproduce barata2020 ...``.
"""

import argparse

from dermkit.training.options import add_reproduce_arguments, options_from_args


def main() -> None:
    from dermkit.papers import barata2020
    from dermkit.training.runner import reproduce

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_reproduce_arguments(parser, barata2020.TABLES)
    reproduce(barata2020, options_from_args(parser.parse_args()))


if __name__ == "__main__":
    main()
