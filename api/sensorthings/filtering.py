"""`$filter` of the SensorThings API: parsed by odata-query (OData v4 grammar) and turned into a
small predicate tree over an entity type's properties, checked against that type's schema. Pure.

Only what SensorThings clients send for reading is taken: comparisons (eq, ne, gt, ge, lt, le) of a
property (or a path to a related entity's property, `Thing/name`) with a literal, joined by and, or,
not. Everything else (functions, arithmetic, `in`, `has`) is refused with a 400 that says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from odata_query import ast
from odata_query.exceptions import ODataException, ParsingException, TokenizingException
from odata_query.grammar import ODataLexer, ODataParser

from api.sensorthings.errors import BadOption


class Type(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    TIME = "time"


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"


Path = tuple[str, ...]
Value = str | float | datetime | None
Schema = Mapping[Path, Type]
"""An entity type's filterable (and sortable) properties: path → type."""


@dataclass(frozen=True, slots=True)
class Compare:
    path: Path
    op: Op
    value: Value


@dataclass(frozen=True, slots=True)
class And:
    left: Predicate
    right: Predicate


@dataclass(frozen=True, slots=True)
class Or:
    left: Predicate
    right: Predicate


@dataclass(frozen=True, slots=True)
class Not:
    operand: Predicate


Predicate = Compare | And | Or | Not

_OPS: dict[type[ast._Comparator], Op] = {
    ast.Eq: Op.EQ, ast.NotEq: Op.NE, ast.Lt: Op.LT, ast.LtE: Op.LE, ast.Gt: Op.GT, ast.GtE: Op.GE,
}
# a op b  ==  b FLIPPED[op] a
_FLIPPED = {Op.EQ: Op.EQ, Op.NE: Op.NE, Op.LT: Op.GT, Op.LE: Op.GE, Op.GT: Op.LT, Op.GE: Op.LE}
_SUPPORTED = "use comparisons (eq, ne, gt, ge, lt, le) of a property with a literal, joined by and, or, not"


def _without_iot_prefix(text: str) -> str:
    """`@iot.id` → `id` outside string literals: the OData lexer has no token for `@`."""
    out: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        if text[i] == "'":
            quoted = not quoted  # '' inside a literal toggles twice: still inside
        if not quoted and text.startswith("@iot.id", i):
            out.append("id")
            i += len("@iot.id")
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _syntax_error(exc: ODataException) -> BadOption:
    if isinstance(exc, ParsingException | TokenizingException):
        token = exc.token
        if token is None or getattr(exc, "eof", False):
            return BadOption("$filter: unexpected end of the expression")
        return BadOption(f"$filter: syntax error at character {token.index + 1} ({str(token.value)[:20]!r})")
    return BadOption(f"$filter: {exc}; {_SUPPORTED}")


def parse_filter(text: str, schema: Schema, entity: str) -> Predicate:
    """The predicate of a `$filter` over entities of type `entity` (for messages), or BadOption."""
    if not text.strip():
        raise BadOption("$filter: empty expression")
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(_without_iot_prefix(text)))
    except ODataException as exc:
        raise _syntax_error(exc) from None
    return _convert(tree, schema, entity)


def _path(node: ast._Node) -> Path | None:
    if isinstance(node, ast.Identifier) and not node.namespace:
        return (node.name,)
    if isinstance(node, ast.Attribute):
        owner = _path(node.owner)
        return None if owner is None else (*owner, node.attr)
    return None


def _literal(node: ast._Node) -> Value:
    if isinstance(node, ast.Null):
        return None
    if isinstance(node, ast.String):
        return node.val
    if isinstance(node, ast.Integer | ast.Float):
        return float(node.val)
    if isinstance(node, ast.DateTime):
        try:
            t = datetime.fromisoformat(node.val.replace("Z", "+00:00"))
        except ValueError:
            raise BadOption(f"$filter: bad time {node.val!r}") from None
        return t.astimezone(UTC)
    if isinstance(node, ast.Date):
        raise BadOption(f"$filter: {node.val} is a date; compare times with a full time, e.g. {node.val}T00:00:00Z")
    raise BadOption(f"$filter: unsupported literal {type(node).__name__}; {_SUPPORTED}")


def _check(path: Path, value: Value, schema: Schema, entity: str) -> None:
    if path not in schema:
        known = ", ".join("/".join(p) for p in schema)
        raise BadOption(f"$filter: {entity} have no property {'/'.join(path)!r}; filterable: {known}")
    if value is None:
        return
    want = schema[path]
    got = Type.TIME if isinstance(value, datetime) else Type.NUMBER if isinstance(value, float) else Type.TEXT
    if got is not want:
        raise BadOption(f"$filter: {'/'.join(path)} is a {want.value}, compared with a {got.value}")


def _convert(node: ast._Node, schema: Schema, entity: str) -> Predicate:
    if isinstance(node, ast.BoolOp):
        a, b = _convert(node.left, schema, entity), _convert(node.right, schema, entity)
        return And(a, b) if isinstance(node.op, ast.And) else Or(a, b)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return Not(_convert(node.operand, schema, entity))
    if isinstance(node, ast.Compare) and type(node.comparator) in _OPS:
        op = _OPS[type(node.comparator)]
        left, right = _path(node.left), _path(node.right)
        if left is not None and right is None:
            path, value = left, _literal(node.right)
        elif right is not None and left is None:
            path, value, op = right, _literal(node.left), _FLIPPED[op]
        else:
            raise BadOption(f"$filter: compare a property with a literal; {_SUPPORTED}")
        _check(path, value, schema, entity)
        if value is None and op not in (Op.EQ, Op.NE):
            raise BadOption(f"$filter: null can only be compared with eq or ne ({'/'.join(path)})")
        return Compare(path, op, value)
    raise BadOption(f"$filter: {type(node).__name__} is not supported; {_SUPPORTED}")


def _compare(have: Value, op: Op, want: Value) -> bool:
    if want is None or have is None:
        same = have is want
        return same if op is Op.EQ else not same if op is Op.NE else False
    if op is Op.EQ:
        return have == want
    if op is Op.NE:
        return have != want
    if type(have) is not type(want):
        return False
    if op is Op.LT:
        return have < want  # type: ignore[operator]
    if op is Op.LE:
        return have <= want  # type: ignore[operator]
    if op is Op.GT:
        return have > want  # type: ignore[operator]
    return have >= want  # type: ignore[operator]


def matches(pred: Predicate, props: Mapping[Path, Value]) -> bool:
    """Whether an entity with these property values satisfies `pred` (an absent property is null)."""
    if isinstance(pred, And):
        return matches(pred.left, props) and matches(pred.right, props)
    if isinstance(pred, Or):
        return matches(pred.left, props) or matches(pred.right, props)
    if isinstance(pred, Not):
        return not matches(pred.operand, props)
    return _compare(props.get(pred.path), pred.op, pred.value)
