"""`maku classify [MODEL] IMAGE...`: top-k labels for photos (bundled model and photos by default)."""

from __future__ import annotations

import argparse
from pathlib import Path

import maku
from maku import assets
from maku.cli import options
from maku.models.pretrained import pretrained
from maku.runtime.classify import Classifier
from maku.runtime.preprocess import MODES

MODEL_SUFFIXES = (".onnx", ".maku")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("classify", help="classify images (no arguments: the bundled model and photos)")
    p.add_argument(
        "paths",
        nargs="*",
        metavar="[MODEL] IMAGE",
        help="an optional .onnx model (default: the bundled MobileNetV2), then image files "
        "(default: the bundled photos)",
    )
    p.add_argument(
        "--model",
        help="a bundled model by name (imagenet: MobileNetV2, cifar10: the MobileNetV1 maku trained) "
        "or a model file; the same as giving MODEL first",
    )
    p.add_argument("--top", type=int, default=5, help="how many classes to show (default 5)")
    p.add_argument(
        "--labels",
        help="imagenet, cifar10, or a text file with one label per line "
        "(default: chosen from the number of classes)",
    )
    p.add_argument(
        "--preprocess",
        choices=MODES,
        help="pixel encoding (default: uint8 for uint8 models, else imagenet mean/std)",
    )
    options.add_backend(p)
    p.add_argument("--threads", type=int, help="BLAS and kernel threads (default: the library's)")


BUNDLED = {"imagenet": assets.default_model, "cifar10": lambda: pretrained("mobilenet_v1_cifar10")}


def run(args: argparse.Namespace) -> int:
    paths = list(args.paths)
    if args.model:
        model = BUNDLED[args.model]() if args.model in BUNDLED else args.model
    elif paths and Path(paths[0]).suffix.lower() in MODEL_SUFFIXES:
        model = paths.pop(0)
    else:
        model = assets.default_model()
    images = paths or assets.demo_images()
    classifier = Classifier(
        maku.load(model, backend=args.backend, threads=args.threads),
        labels=args.labels,
        preprocess_mode=args.preprocess,
    )
    for image in images:
        predictions = classifier.classify(image, args.top)
        print(image)
        for p in predictions:
            print(f"  {p.probability:7.2%}  {p.label}")
    return 0
