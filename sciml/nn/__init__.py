from ._activations import activation_names as activation_names, get_activation as get_activation
from ._batch_norm import BatchNorm as BatchNorm
from ._buffers import AbstractBuffer as AbstractBuffer
from ._cast import cast as cast
from ._cnn import CNN as CNN
from ._features import FourierFeatures as FourierFeatures, Normaliser as Normaliser
from ._field_resnet import FieldResNet as FieldResNet
from ._fno import FNO as FNO
from ._mlp import MLP as MLP
from ._parameters import Positive as Positive, resolve_parameters as resolve_parameters
from ._positional import LearnedEncoding as LearnedEncoding, SinusoidalEncoding as SinusoidalEncoding
from ._registry import (
    available as available,
    build as build,
    build_with_state as build_with_state,
    is_stateful as is_stateful,
)
from ._residual_blocks import BasicBlock as BasicBlock, BottleneckBlock as BottleneckBlock
from ._resnet import ResNet as ResNet, resnet as resnet
from ._spectral_conv import SpectralConv as SpectralConv
from ._transformer import Transformer as Transformer, TransformerBlock as TransformerBlock
