"""Reproduce bisla2019 (Bisla et al., CVPR Workshops 2019): the GAN rows (part 1) and, as they are added,
the purification and classification rows.

    python examples/bisla2019/reproduce.py --data synthetic --quick --output runs/bisla2019-quick
    python examples/bisla2019/reproduce.py --data /data/bisla2019 --table all --output runs/bisla2019

``--data`` is a folder holding ``isic2017/`` (the unpacked ISIC 2017 archives) and ``isic2018_task3/`` (ISIC 2018
Task 3 training input + ground truth), or ``isic2017=ROOT,isic2018_task3=ROOT``. ``--quick`` on the embedded
synthetic data: 64×64 DCGANs for a few epochs on 2 CPU cores (a few minutes). Full scale (256×256, batch 50,
hundreds of epochs) needs a GPU. Writes ``table_gan.md`` / ``.csv``, ``figures/fig5_mse_histograms.png``,
``figures/fig6_nearest_pairs.png``, ``figures/fig12_coupled_dcgan.png`` and, per GAN row, the generator and the
generated set under ``artifacts/``. Same as ``dermkit reproduce bisla2019 ...``.
"""

import argparse

from dermkit.training.options import add_reproduce_arguments, options_from_args


def main() -> None:
    from dermkit.papers import bisla2019
    from dermkit.training.runner import reproduce

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_reproduce_arguments(parser, bisla2019.TABLES)
    reproduce(bisla2019, options_from_args(parser.parse_args()))


if __name__ == "__main__":
    main()
