"""What a pickle may import: exact (module, name) pairs that real weight files need, nothing else.

A pair is matched as `find_class` receives it. There are no patterns: under protocol 4 a dotted
name is resolved by attribute access (`torch.nn.modules.module` + `torch.ctypes.util.subprocess.Popen`
reaches `subprocess.Popen`), so a pattern over names is a path to anything a module imported.

Anything not listed is refused. The other tables never allow anything: they only say *why* a
refusal is a refusal (`classify`), so a whole-model save or a Trainer's `training_args.bin` is
named as what it is, and a known code-execution primitive (`dangerous`) is graded `malicious`.
"""

from __future__ import annotations

import re
from typing import Literal

from modellock.gate import dangerous

Grade = Literal["allowed", "suspicious", "malicious"]
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


def _pairs(module: str, names: str) -> set[tuple[str, str]]:
    return {(module, name) for name in names.split()}


_TENSOR_TYPES = "BFloat16 Bool Byte Char Double Float Half Int Long Short"
_STORAGES = _TENSOR_TYPES + " ComplexDouble ComplexFloat"
_DTYPES = (
    "bfloat16 bits16 bits1x8 bits2x4 bits4x2 bits8 bool complex128 complex32 complex64 float16 float32 float64"
    " float4_e2m1fn_x2 float8_e4m3fn float8_e4m3fnuz float8_e5m2 float8_e5m2fnuz float8_e8m0fnu int8 int16 int32"
    " int64 qint32 qint8 quint2x4 quint4x2 quint8 uint8 uint16 uint32 uint64"
    " int1 int2 int3 int4 int5 int6 int7 uint1 uint2 uint3 uint4 uint5 uint6 uint7"
)

# torch 2.13's `weights_only` unpickler (`_weights_only_unpickler._get_allowed_globals`), exactly.
TORCH_WEIGHTS_ONLY: frozenset[tuple[str, str]] = frozenset(
    _pairs("_codecs", "encode")
    | _pairs("builtins", "bytearray complex set")
    | _pairs("collections", "Counter OrderedDict")
    | _pairs("torch", " ".join(f"{t}Storage" for t in _STORAGES.split()))
    | _pairs("torch", " ".join(f"{t}Tensor" for t in _TENSOR_TYPES.split()))
    | _pairs("torch", "QInt32Storage QInt8Storage QUInt2x4Storage QUInt4x2Storage QUInt8Storage Size Tensor device")
    | _pairs("torch", _DTYPES)
    | _pairs("torch", "per_channel_affine per_channel_affine_float_qparams per_channel_symmetric")
    | _pairs("torch", "per_tensor_affine per_tensor_symmetric")
    | _pairs("torch.cuda", " ".join(f"{t}Storage" for t in _STORAGES.split()))
    | _pairs("torch.cuda", " ".join(f"{t}Tensor" for t in _TENSOR_TYPES.split()))
    | _pairs("torch.sparse", " ".join(f"{t}Tensor" for t in _TENSOR_TYPES.split() if t != "Bool"))
    | _pairs("torch.cuda.sparse", " ".join(f"{t}Tensor" for t in _TENSOR_TYPES.split() if t != "Bool"))
    | _pairs("torch._tensor", "_rebuild_from_type_v2")
    | _pairs(
        "torch._utils",
        "_rebuild_device_tensor_from_cpu_tensor _rebuild_device_tensor_from_numpy _rebuild_meta_tensor_no_storage"
        " _rebuild_nested_tensor _rebuild_parameter _rebuild_parameter_with_state _rebuild_qtensor"
        " _rebuild_sparse_tensor _rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_wrapper_subclass",
    )
    | _pairs("torch.nn.parameter", "Parameter")
    | _pairs("torch.serialization", "_get_layout")
    | _pairs("torch.storage", "TypedStorage UntypedStorage")
)

# What numpy arrays, numpy/python RNG states (HF Trainer's `rng_state.pth`), plain Python values,
# joblib's array wrapper and Lightning's hyper-parameters pickle to. None runs code from its arguments.
DATA: frozenset[tuple[str, str]] = frozenset(
    _pairs("builtins", "int float bool str bytes tuple list dict frozenset slice range object")
    | _pairs("collections", "defaultdict")
    | _pairs("copyreg", "_reconstructor")
    | _pairs("datetime", "datetime date timedelta timezone")
    | _pairs("decimal", "Decimal")
    | _pairs("fractions", "Fraction")
    | _pairs("argparse", "Namespace")
    | _pairs("numpy", "ndarray dtype")
    | _pairs("numpy.core.multiarray", "_reconstruct scalar")
    | _pairs("numpy._core.multiarray", "_reconstruct scalar")
    | _pairs("numpy.core.numeric", "_frombuffer")
    | _pairs("numpy._core.numeric", "_frombuffer")
    | _pairs(
        "numpy.dtypes",
        " ".join(f"{t}DType" for t in ["Float16", "Float32", "Float64", "Int8", "Int16", "Int32", "Int64"]),
    )
    | _pairs(
        "numpy.dtypes", " ".join(f"{t}DType" for t in ["UInt8", "UInt16", "UInt32", "UInt64", "Bool", "Complex64"])
    )
    | _pairs("numpy.dtypes", "Complex128DType")
    | _pairs("numpy.random._pickle", "__randomstate_ctor __bit_generator_ctor __generator_ctor")
    | _pairs("numpy.random.mtrand", "RandomState")
    | _pairs("numpy.random._mt19937", "MT19937")
    | _pairs("numpy.random._pcg64", "PCG64")
    | _pairs("numpy.random.bit_generator", "SeedSequence __pyx_unpickle_SeedSequence")
    | _pairs("joblib.numpy_pickle", "NumpyArrayWrapper")
    | _pairs("torch.torch_version", "TorchVersion")
    | _pairs("typing", "Any")
    | _pairs("pathlib", "PosixPath WindowsPath PurePosixPath PureWindowsPath")
    | _pairs("uuid", "UUID")
    # Lightning's hyper-parameter containers (dict subclasses) and OmegaConf's config nodes, which
    # Lightning `.ckpt` files carry: data holders whose unpickling sets fields and calls nothing.
    | _pairs("pytorch_lightning.utilities.parsing", "AttributeDict")
    | _pairs("lightning_fabric.utilities.data", "AttributeDict")
    | _pairs("lightning.fabric.utilities.data", "AttributeDict")
    | _pairs("omegaconf.dictconfig", "DictConfig")
    | _pairs("omegaconf.listconfig", "ListConfig")
    | _pairs("omegaconf.base", "ContainerMetadata Metadata")
    | _pairs("omegaconf.nodes", "AnyNode StringNode IntegerNode FloatNode BooleanNode")
)

ALLOWED: frozenset[tuple[str, str]] = TORCH_WEIGHTS_ONLY | DATA

# Known, not allowed: classes whose unpickling imports and rebuilds program objects (whole-model
# or optimizer saves) or training state that is not weights. Refused as `suspicious` with the reason.
_WHOLE_MODEL_MODULES = ("torch.nn.modules.", "torch.optim.", "transformers.models.", "torch.nn.utils.")
_TRAINING_STATE_MODULES = (
    "transformers.training_args",
    "transformers.training_args_seq2seq",
    "transformers.trainer_utils",
    "transformers.trainer_pt_utils",
    "transformers.debug_utils",
    "transformers.utils.generic",
    "transformers.configuration_utils",
    "transformers.generation.configuration_utils",
    "accelerate.",
    "pytorch_lightning.",
    "lightning.",
    "lightning_fabric.",
    "omegaconf.",
)

_HARMLESS_BUILTINS = frozenset(
    [
        "abs",
        "all",
        "any",
        "ascii",
        "bin",
        "chr",
        "divmod",
        "hash",
        "hex",
        "len",
        "max",
        "min",
        "oct",
        "ord",
        "pow",
        "repr",
        "round",
        "sorted",
        "sum",
    ]
)


def classify(module: str, name: str) -> tuple[Grade, str]:
    """The grade of one import and, for refusals, what kind of thing it is."""
    if (module, name) in ALLOWED:
        return "allowed", ""
    if not _IDENTIFIER.match(module):
        return "suspicious", "not an importable name (find_class fails on it)"
    if not _IDENTIFIER.match(name):
        # find_class imports the module before it looks the name up: grade that import if it runs
        # something (importing `os` does nothing; text such as "cos\ncosine of x\n" must stay text).
        if dangerous.import_runs_code(module):
            return "malicious", f"find_class imports {module} before the name fails"
        return "suspicious", "not an importable name (find_class fails on it)"
    if module in ("builtins", "__builtin__") and name in _HARMLESS_BUILTINS:
        return "suspicious", "a builtin function, not a data constructor"
    why = dangerous.danger(module, name)
    if why is not None and "." in name:
        return "malicious", f"a dotted name reaches other objects by attribute access; {why}"
    if why is not None:
        return "malicious", why
    if "." in name:
        return "suspicious", "a dotted name reaches other objects by attribute access"
    if module.startswith(_WHOLE_MODEL_MODULES) and name[:1].isupper():
        return "suspicious", "a whole-object save (torch.save(model)): unpickling rebuilds program objects"
    if module.startswith(_TRAINING_STATE_MODULES) or module in _TRAINING_STATE_MODULES:
        return "suspicious", "training state, not weights (Trainer/Lightning/accelerate objects)"
    return "suspicious", "not on the allowlist"


def allowed(module: str, name: str) -> bool:
    return (module, name) in ALLOWED
