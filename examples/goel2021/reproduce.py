"""Reproduce goel2021 (Goel, Ko & Mishra, CS231n 2021) Tables 1–3, the confusion matrices and the skin-tone study.

    python examples/goel2021/reproduce.py --data synthetic --quick --output runs/goel2021-quick
    python examples/goel2021/reproduce.py --data ham10000=/data/HAM10000,isic2020=/data/ISIC2020 --output runs/goel2021
    python examples/goel2021/reproduce.py --data /data/goel2021 --table skin_tone --output runs/goel2021

``--data`` takes ``synthetic``, ``ham10000=ROOT,isic2020=ROOT``, or one folder holding ``ham10000/`` and
``isic2020/`` (layouts in docs/goel2021.md). ``--quick`` takes a few minutes on 2 CPU cores. A selection
(``--table``, ``--rows``) runs the rows it depends on first (segmenter → ISIC 2020 crops → classifiers → skin
tone). Re-running resumes. Same as ``dermkit reproduce goel2021 ...``.
"""

import argparse

from dermkit.papers import goel2021
from dermkit.training.runner import add_reproduce_arguments, options_from_args, reproduce


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_reproduce_arguments(parser, goel2021.TABLES)
    reproduce(goel2021, options_from_args(parser.parse_args()))


if __name__ == "__main__":
    main()
