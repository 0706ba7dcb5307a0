"""``calculator``: safe arithmetic. The expression is parsed with :mod:`ast`
and walked node by node; nothing is evaluated by Python itself."""

from __future__ import annotations

import ast
import math
import operator
import warnings
from collections.abc import Callable
from typing import Any

from muxi_cli.tools.base import ToolOutcome
from muxi_cli.tools.builtins import BuiltinContext

DESCRIPTION = (
    "Evaluate an arithmetic expression exactly and safely. Supports + - * / // % ** and "
    "parentheses, functions sqrt, cbrt, exp, log (natural, or log(x, base)), log10, log2, "
    "sin, cos, tan, asin, acos, atan, atan2, sinh, cosh, tanh, degrees, radians, abs, round, "
    "floor, ceil, trunc, min, max, hypot, factorial, gcd, lcm, and constants pi, e, tau, inf."
)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "expression": {"type": "string", "description": "For example: (2 + 3) * sqrt(16) / 4"}
    },
    "required": ["expression"],
}

MAX_LENGTH = 2000
MAX_DEPTH = 50
MAX_INT_BITS = 10_000
MAX_EXPONENT = 10_000
MAX_FACTORIAL = 1000

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf}


def _factorial(n: Number) -> int:
    if not float(n).is_integer() or n < 0:
        raise CalcError("factorial needs a non-negative whole number")
    if n > MAX_FACTORIAL:
        raise CalcError(f"factorial is limited to {MAX_FACTORIAL}")
    return math.factorial(int(n))


def _log(x: Number, base: Number | None = None) -> float:
    return math.log(x) if base is None else math.log(x, base)


def _round(x: Number, digits: int | None = None) -> Number:
    return round(x) if digits is None else round(x, int(digits))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "cbrt": lambda x: math.copysign(abs(x) ** (1 / 3), x),
    "exp": math.exp,
    "log": _log,
    "ln": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "atan2": math.atan2,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "degrees": math.degrees,
    "radians": math.radians,
    "abs": abs,
    "round": _round,
    "floor": math.floor,
    "ceil": math.ceil,
    "trunc": math.trunc,
    "min": min,
    "max": max,
    "hypot": math.hypot,
    "factorial": _factorial,
    "gcd": math.gcd,
    "lcm": math.lcm,
}


class CalcError(ValueError):
    """The expression is not allowed or cannot be computed."""


def _check_size(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalcError("only numbers are allowed")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalcError("the result is too large")
    return value


def _power(base: Number, exponent: Number) -> Number:
    if abs(exponent) > MAX_EXPONENT:
        raise CalcError(f"exponents are limited to {MAX_EXPONENT}")
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and base.bit_length() * exponent > MAX_INT_BITS
    ):
        raise CalcError("the result is too large")
    result = base**exponent
    if isinstance(result, complex):
        raise CalcError("the result is not a real number")
    return result


def _eval(node: ast.AST, depth: int = 0) -> Number:
    if depth > MAX_DEPTH:
        raise CalcError("the expression is nested too deeply")
    if isinstance(node, ast.Expression):
        return _eval(node.body, depth + 1)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CalcError(f"{node.value!r} is not a number")
        return _check_size(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _eval(node.left, depth + 1)
        right = _eval(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            return _check_size(_power(left, right))
        return _check_size(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _check_size(_UNARY[type(node.op)](_eval(node.operand, depth + 1)))
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise CalcError(f"unknown name {node.id!r}")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise CalcError(f"unknown function {name!r}")
        if node.keywords:
            raise CalcError("keyword arguments are not supported")
        args = [_eval(arg, depth + 1) for arg in node.args]
        return _check_size(FUNCTIONS[node.func.id](*args))
    raise CalcError(f"{type(node).__name__} is not allowed in an expression")


def evaluate(expression: str) -> Number:
    """Evaluate ``expression``; raises :class:`CalcError` with a readable message."""
    text = expression.strip().replace("^", "**").replace("×", "*").replace("÷", "/")
    if not text:
        raise CalcError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise CalcError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # e.g. "invalid decimal literal"
            tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise CalcError(f"not a valid expression ({exc.msg})") from exc
    try:
        return _eval(tree)
    except ZeroDivisionError as exc:
        raise CalcError("division by zero") from exc
    except OverflowError as exc:
        raise CalcError("the result is too large") from exc
    except (TypeError, ValueError) as exc:
        if isinstance(exc, CalcError):
            raise
        raise CalcError(str(exc)) from exc


def format_number(value: Number) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return format(value, ".15g")
    return str(value)


async def run(arguments: dict[str, Any], ctx: BuiltinContext) -> ToolOutcome:
    expression = arguments.get("expression")
    if not isinstance(expression, str):
        return ToolOutcome(ok=False, content="calculator needs an 'expression' string")
    try:
        value = evaluate(expression)
    except CalcError as exc:
        return ToolOutcome(ok=False, content=f"cannot evaluate {expression!r}: {exc}")
    return ToolOutcome(ok=True, content=format_number(value), structured={"value": value})


TOOLS = {"calculator": (DESCRIPTION, SCHEMA, run)}
