"""maku.nn modules: the Module tree, state_dict, modes, constructor validation, layer semantics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maku import nn
from maku.errors import CheckpointError, ShapeError
from maku.nn import functional as F
from maku.nn import init
from maku.rng import manual_seed
from maku.tensor import Tensor


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Linear(4, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(F.adaptive_avg_pool2d(self.body(x)).flatten(1))


def test_parameters_buffers_and_modules_are_registered_by_name() -> None:
    model = Tiny()
    assert [n for n, _ in model.named_parameters()] == [
        "body.0.weight",
        "body.0.bias",
        "body.1.weight",
        "body.1.bias",
        "head.weight",
        "head.bias",
    ]
    assert [n for n, _ in model.named_buffers()] == ["body.1.running_mean", "body.1.running_var"]
    assert [n for n, _ in model.named_modules()][:3] == ["", "body", "body.0"]
    assert model.body[0].weight.shape == (3, 3, 3, 4)  # HWIO


def test_train_and_eval_switch_every_submodule() -> None:
    model = Tiny().eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_state_dict_round_trip_copies_values() -> None:
    a, b = Tiny(), Tiny()
    a.body[1].running_mean[:] = 0.5
    b.load_state_dict(a.state_dict())
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(x, y, err_msg=name)


def test_load_state_dict_reports_every_mismatch() -> None:
    state = dict(Tiny().state_dict())
    state["head.weight"] = np.zeros((3, 4), np.float32)
    state.pop("head.bias")
    state["extra.weight"] = np.zeros(1)
    with pytest.raises(CheckpointError) as info:
        Tiny().load_state_dict(state)
    message = str(info.value)
    assert "head.weight: checkpoint (3, 4) vs model (2, 4)" in message
    assert "missing keys ['head.bias']" in message and "unexpected keys ['extra.weight']" in message


def test_non_strict_load_returns_missing_and_unexpected() -> None:
    state = {k: v for k, v in Tiny().state_dict().items() if not k.startswith("head")}
    state["other"] = np.zeros(1)
    missing, unexpected = Tiny().load_state_dict(state, strict=False)
    assert missing == ["head.weight", "head.bias"] and unexpected == ["other"]


def test_repr_shows_non_default_arguments() -> None:
    text = repr(Tiny())
    assert "Conv2d(3, 4, kernel_size=(3, 3), padding=1)" in text
    assert "BatchNorm2d(4)" in text and "Linear(in_features=4, out_features=2)" in text
    assert repr(nn.Conv2d(4, 4, 3, stride=2, groups=4, bias=False)) == (
        "Conv2d(4, 4, kernel_size=(3, 3), stride=(2, 2), groups=4, bias=False)"
    )


CONSTRUCTOR_ERRORS = [
    (lambda: nn.Conv2d(3, 4, 3, groups=2), "in_channels (3) must be divisible by groups (2)"),
    (lambda: nn.Conv2d(4, 3, 3, groups=2), "out_channels (3) must be divisible by groups (2)"),
    (lambda: nn.Conv2d(0, 3, 3), "in_channels must be a positive integer, got 0"),
    (lambda: nn.Conv2d(3, 3, 3, padding="full"), "padding must be an int, a pair, 'same' or 'valid'"),
    (lambda: nn.Conv2d(3, 3, 0), "kernel_size, stride and dilation must be positive"),
    (lambda: nn.Linear(0, 3), "in_features must be a positive integer, got 0"),
    (lambda: nn.BatchNorm2d(0), "num_features must be a positive integer"),
    (lambda: nn.BatchNorm2d(4, momentum=2.0), "momentum must be in [0, 1]"),
    (lambda: nn.BatchNorm2d(4, eps=0.0), "eps must be positive"),
    (lambda: nn.Dropout(1.0), "Dropout probability must be in [0, 1)"),
    (lambda: nn.MaxPool2d(2, padding=2), "padding must be between 0 and half the kernel size"),
    (lambda: nn.AdaptiveAvgPool2d(2), "supports output_size=1 only"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=1.5), "label_smoothing must be in [0, 1]"),
    (lambda: nn.MSELoss(reduction="avg"), "reduction must be one of"),
]


@pytest.mark.parametrize("make,message", CONSTRUCTOR_ERRORS, ids=[m for _, m in CONSTRUCTOR_ERRORS])
def test_constructors_validate_with_exact_messages(make, message) -> None:
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        make()


INPUT_ERRORS = [
    (
        lambda: nn.Conv2d(3, 8, 3)(Tensor(np.zeros((2, 3, 32, 32)))),
        "maku layers are channels-last (NHWC); got shape (2, 3, 32, 32) — did you pass NCHW? use x.permute(0, 2, 3, 1)",
    ),
    (lambda: nn.Conv2d(3, 8, 3)(Tensor(np.zeros((32, 32, 3)))), "expects a 4-D (N, H, W, C) input"),
    (lambda: nn.Conv2d(3, 8, 3)(Tensor(np.zeros((2, 8, 8, 5)))), "expects 3 input channels in the last axis"),
    (lambda: nn.BatchNorm2d(4)(Tensor(np.zeros((2, 4)))), "BatchNorm2d expects a 4-D (N, H, W, C) input"),
    (lambda: nn.BatchNorm1d(4)(Tensor(np.zeros((2, 3)))), "expects 4 channels in the last axis"),
    (lambda: nn.Linear(4, 2)(Tensor(np.zeros((2, 5)))), "linear expects 4 input features"),
    (lambda: nn.MaxPool2d(2)(Tensor(np.zeros((4, 4)))), "max_pool2d expects a 4-D (N, H, W, C) input"),
    (lambda: nn.CrossEntropyLoss()(Tensor(np.zeros((2, 3))), np.array([0, 1, 2])), "expects (N, C) scores"),
    (
        lambda: F.binary_cross_entropy_with_logits(Tensor(np.zeros(3)), Tensor(np.zeros(2))),
        "target (2,) differ",
    ),
]


@pytest.mark.parametrize("call,message", INPUT_ERRORS, ids=[m[:40] for _, m in INPUT_ERRORS])
def test_bad_inputs_raise_shape_errors(call, message) -> None:
    with pytest.raises(ShapeError, match=__import__("re").escape(message)):
        call()


def test_cross_entropy_rejects_out_of_range_classes() -> None:
    with pytest.raises(ValueError, match=r"class indices must be in \[0, 3\)"):
        F.cross_entropy(Tensor(np.zeros((2, 3))), np.array([0, 3]))


def test_same_padding_gives_ceil_output_size() -> None:
    for stride, size in ((1, 7), (2, 4)):
        y = nn.Conv2d(2, 2, 3, stride=stride, padding="same")(Tensor(np.zeros((1, 7, 7, 2))))
        assert y.shape == (1, size, size, 2)


def test_batchnorm_running_statistics_follow_pytorch() -> None:
    bn = nn.BatchNorm2d(3, momentum=0.2)
    x = np.random.default_rng(0).standard_normal((4, 5, 5, 3)).astype(np.float32) * 2 + 1
    bn(Tensor(x))
    flat = x.reshape(-1, 3)
    np.testing.assert_allclose(bn.running_mean, 0.2 * flat.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, 0.8 + 0.2 * flat.var(0, ddof=1), rtol=1e-5)
    bn.eval()
    y = bn(Tensor(x)).numpy()
    expected = (x - bn.running_mean) / np.sqrt(bn.running_var + bn.eps)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_cross_entropy_values_with_smoothing_and_ignore_index() -> None:
    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, 1.0, 1.0]])
    target = np.array([0, 2, -100])
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    plain = -(log_p[0, 0] + log_p[1, 2]) / 2
    smooth = (
        (0.9 * -log_p[0, 0] + 0.1 * -log_p[0].mean()) + (0.9 * -log_p[1, 2] + 0.1 * -log_p[1].mean())
    ) / 2
    x = Tensor(logits, dtype=np.float64)
    assert math.isclose(F.cross_entropy(x, target).item(), plain, rel_tol=1e-12)
    assert math.isclose(F.cross_entropy(x, target, label_smoothing=0.1).item(), smooth, rel_tol=1e-12)


def test_dropout_scales_in_training_and_is_identity_in_eval() -> None:
    manual_seed(0)
    drop = nn.Dropout(0.25)
    y = drop(Tensor(np.ones((1000,)))).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)} and 0.2 < (y == 0).mean() < 0.3
    drop.eval()
    np.testing.assert_array_equal(drop(Tensor(np.ones(5))).numpy(), np.ones(5))


INIT_CASES = [
    (lambda w: init.kaiming_normal_(w), math.sqrt(2 / (3 * 3 * 16))),
    (lambda w: init.kaiming_normal_(w, mode="fan_out"), math.sqrt(2 / (3 * 3 * 32))),
    (lambda w: init.kaiming_uniform_(w), math.sqrt(2 / (3 * 3 * 16))),
    (lambda w: init.xavier_normal_(w), math.sqrt(2 / (9 * 16 + 9 * 32))),
    (lambda w: init.xavier_uniform_(w, gain=2.0), 2 * math.sqrt(2 / (9 * 16 + 9 * 32))),
]


@pytest.mark.parametrize("fill,std", INIT_CASES)
def test_init_functions_have_the_documented_spread(fill, std) -> None:
    manual_seed(0)
    w = nn.Parameter(np.zeros((3, 3, 16, 32), np.float32))
    fill(w)
    assert abs(w.numpy().std() / std - 1) < 0.05 and abs(w.numpy().mean()) < 0.05 * std


def test_zeros_and_ones_init() -> None:
    w = nn.Parameter(np.full(3, 5.0))
    assert init.zeros_(w).numpy().tolist() == [0, 0, 0] and init.ones_(w).numpy().tolist() == [1, 1, 1]


def test_module_list_and_identity() -> None:
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Identity()])
    layers.append(nn.ReLU())
    assert len(layers) == 3 and len(list(layers.parameters())) == 2
    x = Tensor(np.array([[1.0, -1.0]]))
    np.testing.assert_array_equal(layers[1](x).numpy(), x.numpy())


def test_setting_attributes_before_super_init_is_explained() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="must call super"):
        Broken()
