"""Plain data across the wall between a submission's kernel and the grader.

A learner's function runs in its own kernel; what comes back is only ever
plain data: None, bools, numbers, strings, lists, tuples, sets, dicts and
numpy arrays (bytes + dtype + shape). `encode` runs in the kernel and turns a
returned value into JSON-ready tags (refusing anything else, so an object
whose `__eq__` says yes to everything never leaves the kernel); `decode` runs
in the grader and rebuilds the values from JSON alone, never by unpickling or
calling into the submission. `conform` checks a value against its question's
schema (`RETURNS` in `course_lib/grading/visible/NN.py`).
"""

from __future__ import annotations

import base64
import itertools
import math

import numpy as np

MAX_DEPTH = 32
MAX_ITEMS = 1_000_000           # elements of one container or array
MAX_TEXT = 1_000_000            # characters of one string
_TAGS = ("list", "tuple", "set", "dict", "array", "bytes", "handle")
_ARRAY_KINDS = "biuf"           # bool, signed, unsigned, float: never object or structured arrays
# Iterables a learner reasonably returns for "a list": read once, as a list.
_ITERABLE_NAMES = {"generator", "map", "filter", "zip", "range", "dict_keys", "dict_values", "dict_items",
                   "list_iterator", "tuple_iterator", "enumerate", "reversed"}


class Refused(Exception):
    """A value that is not plain data: it is not graded."""


class Malformed(Exception):
    """What came back is not the wire format (corrupted or forged): it is not graded."""


class Handle:
    """An input the kernel supplies itself (the course's model, its tokenizer, its server's address): named, never
    sent."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name.upper()


MODEL = Handle("model")
TOKENIZER = Handle("tokenizer")
SERVER_URL = Handle("server_url")
HANDLES = {h.name: h for h in (MODEL, TOKENIZER, SERVER_URL)}


def describe(value) -> str:
    kind = type(value)
    name = f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ not in ("builtins", None) else kind.__qualname__
    return ("a " if name[:1].lower() not in "aeiou" else "an ") + name[:60]


def encode(value, notes: list | None = None, _depth: int = 0):
    """JSON-ready tags for a plain value (in the kernel); Refused for anything else.

    A subclass of a plain type (an int whose `__eq__` always says yes) is graded as
    the plain value it holds, read with the base type's own method; `notes` says so.
    """
    notes = [] if notes is None else notes
    if _depth > MAX_DEPTH:
        raise Refused(f"nested deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if value is None or kind is bool:
        return value
    if kind is int or kind is float:
        return value
    if kind is str:
        if len(value) > MAX_TEXT:
            raise Refused(f"a string of {len(value):,} characters (at most {MAX_TEXT:,})")
        return value
    if isinstance(value, np.generic):
        return _numpy_scalar(value)
    if isinstance(value, np.ndarray):
        return _array(np.ndarray.view(value, np.ndarray))
    if kind in (list, tuple, set, frozenset):
        return _sequence(kind, value, notes, _depth)
    if kind is dict:
        return _mapping(value, notes, _depth)
    if kind is bytes:
        return {"bytes": base64.b64encode(value).decode("ascii")}
    for base in (int, float, str, list, tuple, dict):
        if isinstance(value, base):
            notes.append(f"returned {describe(value)} (a subclass of {base.__name__}): graded as the plain "
                         f"{base.__name__} it holds")
            return encode(_plain_copy(base, value), notes, _depth + 1)
    if kind.__name__ in _ITERABLE_NAMES:
        items = list(itertools.islice(value, MAX_ITEMS + 1))
        return _sequence(list, items, notes, _depth)
    raise Refused(f"returned {describe(value)}, not plain data (numbers, strings, lists, dicts, numpy arrays)")


def _plain_copy(base, value):
    if base in (int, float, str):
        return {int: int.__int__, float: float.__float__, str: str.__str__}[base](value)
    if base is dict:
        return dict(dict.items(value))
    return base(base.__iter__(value))


def _numpy_scalar(value):
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.str_):
        return str.__str__(value)
    raise Refused(f"returned {describe(value)}: only real numbers, bools and strings")


def _array(array: np.ndarray):
    if array.dtype.kind not in _ARRAY_KINDS or array.dtype.itemsize > 8:
        raise Refused(f"returned an array of dtype {array.dtype}: only bool, integer and float arrays")
    if array.size > MAX_ITEMS:
        raise Refused(f"returned an array of {array.size:,} values (at most {MAX_ITEMS:,})")
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return {"array": {"dtype": little.dtype.str, "shape": list(array.shape),
                      "data": base64.b64encode(np.ascontiguousarray(little).tobytes()).decode("ascii")}}


def _sequence(kind, items, notes, depth):
    items = list(items)
    if len(items) > MAX_ITEMS:
        raise Refused(f"returned more than {MAX_ITEMS:,} items")
    tag = {list: "list", tuple: "tuple", set: "set", frozenset: "set"}[kind]
    return {tag: [encode(item, notes, depth + 1) for item in items]}


def _mapping(value, notes, depth):
    if len(value) > MAX_ITEMS:
        raise Refused(f"returned a dict of more than {MAX_ITEMS:,} items")
    return {"dict": [[encode(k, notes, depth + 1), encode(v, notes, depth + 1)] for k, v in dict.items(value)]}


def decode(data, handles=None, _depth: int = 0):
    """Values rebuilt from the wire format; Malformed when it is not exactly that.

    `handles` maps a handle's name to a function giving what stands in for it (the
    kernel resolves MODEL to its model); a reply from a kernel may hold no handle.
    """
    if _depth > MAX_DEPTH + 2:
        raise Malformed("nested too deeply")
    if data is None or isinstance(data, (bool, str)):
        return data
    if isinstance(data, int):
        return data
    if isinstance(data, float):
        return data
    if not isinstance(data, dict) or len(data) != 1:
        raise Malformed(f"unexpected {type(data).__name__}")
    (tag, body), = data.items()
    if tag in ("list", "tuple", "set"):
        if not isinstance(body, list) or len(body) > MAX_ITEMS:
            raise Malformed(f"bad {tag}")
        items = [decode(item, handles, _depth + 1) for item in body]
        if tag == "set":
            try:
                return set(items)
            except TypeError:
                raise Malformed("unhashable set item") from None
        return items if tag == "list" else tuple(items)
    if tag == "dict":
        if not isinstance(body, list) or not all(isinstance(p, list) and len(p) == 2 for p in body):
            raise Malformed("bad dict")
        try:
            return {decode(k, handles, _depth + 1): decode(v, handles, _depth + 1) for k, v in body}
        except TypeError:
            raise Malformed("unhashable dict key") from None
    if tag == "array":
        return _decode_array(body)
    if tag == "bytes" and isinstance(body, str):
        return _b64(body)
    if tag == "handle" and handles and body in handles:
        return handles[body]()
    raise Malformed(f"unknown tag {str(tag)[:20]!r}")


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise Malformed("bad base64") from None


def _decode_array(body) -> np.ndarray:
    if not isinstance(body, dict) or set(body) != {"dtype", "shape", "data"}:
        raise Malformed("bad array")
    try:
        dtype = np.dtype(str(body["dtype"]))
    except TypeError:
        raise Malformed("bad array dtype") from None
    shape = body["shape"]
    if (dtype.kind not in _ARRAY_KINDS or dtype.itemsize > 8 or dtype.fields is not None or not isinstance(shape, list)
            or not all(type(n) is int and n >= 0 for n in shape) or len(shape) > MAX_DEPTH):
        raise Malformed("bad array dtype or shape")
    raw = _b64(body["data"]) if isinstance(body["data"], str) else b""
    count = math.prod(shape)
    if count > MAX_ITEMS or count * dtype.itemsize != len(raw):
        raise Malformed("array bytes do not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def encode_input(value):
    """A test's input for the wire (in the grader): plain data, or a Handle the kernel resolves."""
    if isinstance(value, Handle):
        return {"handle": value.name}
    if isinstance(value, (list, tuple)):
        return {("list" if isinstance(value, list) else "tuple"): [encode_input(v) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[encode_input(k), encode_input(v)] for k, v in value.items()]}
    return encode(value)


# ------------------------------------------------------------------ schemas
ANY = object()  # no schema declared: any plain value


class Either:
    """A schema satisfied by any of its alternatives, e.g. Either(float, None)."""

    def __init__(self, *options):
        self.options = options


def schema_text(schema) -> str:
    if schema is None:
        return "None"
    if isinstance(schema, Either):
        return " or ".join(schema_text(o) for o in schema.options)
    if isinstance(schema, tuple):
        return f"a pair/tuple of ({', '.join(schema_text(s) for s in schema)})"
    if isinstance(schema, list):
        return f"a list of {schema_text(schema[0])}"
    if isinstance(schema, dict):
        return f"a dict with keys {', '.join(map(str, schema))}"
    return {int: "an integer", float: "a number", bool: "True or False", str: "a string",
            np.ndarray: "a numpy array"}.get(schema, str(schema))


def _conforms(value, schema) -> bool:
    if schema is None:
        return value is None
    if isinstance(schema, Either):
        return any(_conforms(value, option) for option in schema.options)
    if schema is int:
        return type(value) is int or (type(value) is float and value.is_integer())
    if schema is float:
        return type(value) in (int, float)
    if schema in (bool, str):
        return type(value) is schema
    if schema is np.ndarray:
        return isinstance(value, np.ndarray)
    if isinstance(schema, tuple):
        return (isinstance(value, (list, tuple)) and len(value) == len(schema)
                and all(_conforms(v, s) for v, s in zip(value, schema)))
    if isinstance(schema, list):
        return isinstance(value, (list, tuple)) and all(_conforms(v, schema[0]) for v in value)
    if isinstance(schema, dict):
        return isinstance(value, dict) and all(k in value and _conforms(value[k], s) for k, s in schema.items())
    raise TypeError(f"unknown schema {schema!r}")


def conform(value, schema, what: str):
    """`value` if it has the schema's shape; otherwise an AssertionError (a failed test) naming what was expected."""
    if schema is not ANY and not _conforms(value, schema):
        shown = repr(value) if not isinstance(value, np.ndarray) else f"an array of shape {value.shape}"
        raise AssertionError(f"{what} gave {shown[:60]}; expected {schema_text(schema)}")
    return value
