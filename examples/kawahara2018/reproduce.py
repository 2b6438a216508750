"""Reproduce kawahara2018 (Kawahara & Hamarneh, IEEE JBHI 2018) Tables I–V and Section III-C, Figs. 1, 3, 4, 5.

    python examples/kawahara2018/reproduce.py --data synthetic --quick --output runs/kawahara2018-quick
    python examples/kawahara2018/reproduce.py --data /data/isic2017 --table all --output runs/kawahara2018
    python examples/kawahara2018/reproduce.py --data /data/isic2017 --rows 't4_row*' --shard 1/2 --output runs/k18

``--quick`` on the embedded synthetic data takes a few minutes on 2 CPU cores (64×64, random encoder, 5 epochs:
Table IV's eight rows, the lesion model and Table II's baselines, Table V's evaluations of the VGG skip model).
Full scale (336×336, 100 epochs per row, ImageNet VGG16) needs a CUDA GPU and the ISIC 2017 archives unpacked
under ROOT (docs/data.md). ``--rows`` / ``--shard`` / ``--repeats`` and the other options are the engine's
shared arguments; a row's dependencies (the lesion model of the Lesion baseline) run first. Re-running resumes.
Same as ``dermkit reproduce kawahara2018 ...``; docs/kawahara2018.md has the details.
"""

import argparse

from dermkit.training.options import add_reproduce_arguments, options_from_args


def main() -> None:
    from dermkit.papers import kawahara2018
    from dermkit.training.runner import reproduce

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_reproduce_arguments(parser, kawahara2018.TABLES)
    reproduce(kawahara2018, options_from_args(parser.parse_args()))


if __name__ == "__main__":
    main()
