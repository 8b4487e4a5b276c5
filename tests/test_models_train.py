"""Whole-model checks: a few SGD steps of a small CIFAR MobileNetV1 against a PyTorch trajectory
(tests/data/mobilenet_v1_steps.json, made by tools/make_training_references.py), and every
model's shapes, parameter counts and trainability."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from maku import models, nn, optim
from maku.autograd import no_grad
from maku.errors import ShapeError
from maku.rng import manual_seed
from maku.tensor import Tensor

STEPS = json.loads((Path(__file__).parent / "data" / "mobilenet_v1_steps.json").read_text())


def to_float64(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    for m in model.modules():
        for name, b in list(m._buffers.items()):
            m._buffers[name] = b.astype(np.float64)
    return model


# float64 must match the float64 reference closely at every step; in float32 rounding differences
# grow quickly through batch-8 BatchNorm, so only the first two losses are compared.
@pytest.mark.parametrize("dtype,rtol,checked_steps", [(np.float64, 1e-7, 5), (np.float32, 2e-3, 2)])
def test_mobilenet_v1_sgd_steps_match_reference(dtype, rtol, checked_steps) -> None:
    cfg = STEPS
    manual_seed(cfg["seed"])
    model = models.mobilenet_v1_cifar(10, cfg["width"])
    if dtype == np.float64:
        to_float64(model)
    rng = np.random.default_rng(cfg["seed"])
    images = Tensor(rng.standard_normal((cfg["batch"], 32, 32, 3)), dtype=dtype)
    labels = rng.integers(0, 10, cfg["batch"])
    opt = optim.SGD(
        model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"]
    )
    losses = []
    for _ in range(cfg["steps"]):
        loss = nn.functional.cross_entropy(model(images), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    np.testing.assert_allclose(losses[:checked_steps], cfg["losses"][:checked_steps], rtol=rtol)
    if dtype == np.float64:  # eval mode uses the running statistics the steps accumulated
        model.eval()
        with no_grad():
            logits = model(images).data
        np.testing.assert_allclose(logits[0], cfg["eval_logits_first_row"], rtol=1e-6)


# torchvision's parameter counts for the ImageNet models, and the paper's 4.2M for MobileNetV1
PARAMETER_COUNTS = [
    ("mobilenet_v1_imagenet", 4231976),
    ("mobilenet_v2", 3504872),
    ("mobilenet_v3_small", 2542856),
    ("mobilenet_v3_large", 5483032),
]


@pytest.mark.parametrize("name,count", PARAMETER_COUNTS)
def test_imagenet_models_have_the_reference_parameter_counts(name, count) -> None:
    model = models.get_model(name, num_classes=1000)
    assert sum(p.data.size for p in model.parameters()) == count


@pytest.mark.parametrize("name", sorted(models.MODELS))
@pytest.mark.parametrize("width", [0.25, 0.75])
def test_models_train_one_step_at_any_width(name, width) -> None:
    model = models.get_model(name, num_classes=7, width=width)
    x = Tensor(np.random.default_rng(0).standard_normal((2, 32, 32, 3)))
    logits = model(x)
    assert logits.shape == (2, 7)
    nn.functional.cross_entropy(logits, np.array([1, 5])).backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())


def test_width_multiplier_scales_channels() -> None:
    narrow, wide = models.mobilenet_v1_cifar(10, 0.5), models.mobilenet_v1_cifar(10, 1.0)
    assert narrow.classifier.in_features == 512 and wide.classifier.in_features == 1024


def test_model_rejects_nchw_input_with_a_hint() -> None:
    model = models.mobilenet_v1_cifar(10, 0.25)
    with pytest.raises(
        ShapeError, match=r"channels-last \(NHWC\).*did you pass NCHW\? use x.permute\(0, 2, 3, 1\)"
    ):
        model(Tensor(np.zeros((2, 3, 32, 32), np.float32)))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(width=0), "width must be positive"),
        (dict(num_classes=0), "num_classes must be a positive integer"),
    ],
)
def test_model_argument_errors(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        models.MobileNetV1(**kwargs)


def test_unknown_pretrained_model_lists_the_bundled_ones() -> None:
    from maku.errors import InputError

    with pytest.raises(
        InputError, match=r"no pretrained model 'resnet'; bundled: \['mobilenet_v1_cifar10'\]"
    ):
        models.pretrained("resnet")
