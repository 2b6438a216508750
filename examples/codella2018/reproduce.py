"""Reproduce codella2018 (Codella et al., CHAI, MICCAI iMIMIC 2018) Table 1 and Figures 3–4.

    python examples/codella2018/reproduce.py --data synthetic --quick --output runs/codella2018-quick
    python examples/codella2018/reproduce.py --data /data/ISIC2017 --output runs/codella2018

``--quick`` on the embedded synthetic data (67×67, ~1,000 triplets per triplet row, random AlexNet) takes a
few minutes on 2 CPU cores. Full scale (227×227, 150,000 triplets per row) needs a GPU, the ISIC 2017
Training and Test_v2 sets and the inputs that are not public — the hierarchical and joint similarity-group
CSVs and the CASIA-WebFace AlexNet weights (docs/codella2018.md); a row whose input is absent is reported as
not run. Same as ``dermkit reproduce codella2018 ...``.
"""

import argparse

from dermkit.training.options import add_reproduce_arguments, options_from_args


def main() -> None:
    from dermkit.papers import codella2018
    from dermkit.training.runner import reproduce

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_reproduce_arguments(parser, codella2018.TABLES)
    reproduce(codella2018, options_from_args(parser.parse_args()))


if __name__ == "__main__":
    main()
