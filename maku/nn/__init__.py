"""maku.nn: PyTorch-like layers on channels-last (NHWC) tensors with HWIO conv weights."""

from maku.nn import functional, init
from maku.nn.activation import GELU, Hardsigmoid, Hardswish, ReLU, ReLU6, Sigmoid, Softmax
from maku.nn.batchnorm import BatchNorm1d, BatchNorm2d
from maku.nn.container import Flatten, Identity, ModuleList, Sequential
from maku.nn.conv import Conv2d
from maku.nn.dropout import Dropout
from maku.nn.linear import Linear
from maku.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from maku.nn.module import Module, Parameter
from maku.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "functional",
    "init",
    "Module",
    "Parameter",
    "Sequential",
    "ModuleList",
    "Flatten",
    "Identity",
    "Conv2d",
    "Linear",
    "BatchNorm1d",
    "BatchNorm2d",
    "ReLU",
    "ReLU6",
    "Sigmoid",
    "Hardsigmoid",
    "Hardswish",
    "GELU",
    "Softmax",
    "Dropout",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "CrossEntropyLoss",
    "NLLLoss",
    "MSELoss",
    "L1Loss",
    "BCEWithLogitsLoss",
]
