"""Limits on a GraphQL document, checked in one linear pass before any validation rule runs.

graphql-core's validation rules expand fragment spreads where they are used, so a small
document of nested fragment pairs (`fragment F1 on Query { ...F0 ...F0 }`, 22 levels deep)
costs them 2^22 steps, and `OverlappingFieldsCanBeMerged` compares every pair of fields that
share a response name. Here each fragment is summarised once (memoised) and a spread reuses
its summary, so the work is proportional to the document's size; documents over a limit are
refused before graphql-core sees them, which bounds what its rules can be made to do.

Limits (see docs/security.md):
- fragment spreads in the document (not expanded);
- fields after expansion, summed over every operation and fragment definition;
- times one response name is selected in one selection set after expansion (the pairs
  `OverlappingFieldsCanBeMerged` compares grow with the square of this);
- depth of field nesting (introspection fields `__*` do not count, so IDEs keep working);
- aliases after expansion, per operation;
- cost of the operation to run (like GitHub's node limit): every field costs 1 per time it can
  be resolved; a field with a `first` argument multiplies its children by that page size (the
  default when not given), any other list field by `LIST_ESTIMATE`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_list_type,
    is_non_null_type,
    value_from_ast,
)

from auth.errors import PublicError, RequestErrorCode

LIST_ESTIMATE = 10
PAGE_ARGUMENT = "first"


class QueryTooComplex(PublicError):
    """The document's shape is over a structural limit (depth, aliases, fragments, fields)."""

    code = RequestErrorCode.QUERY_TOO_COMPLEX


class QueryTooExpensive(PublicError):
    code = RequestErrorCode.QUERY_TOO_EXPENSIVE


class DocumentInvalid(PublicError):
    code = RequestErrorCode.GRAPHQL_VALIDATION_FAILED


@dataclass(frozen=True)
class DocumentLimits:
    max_depth: int
    max_aliases: int
    max_fragment_spreads: int
    max_fields: int
    max_repeats: int
    max_cost: int


@dataclass
class _Summary:
    """What a selection set amounts to, per unit of its parent's multiplier."""

    cost: int = 0
    depth: int = 0
    aliases: int = 0
    fields: int = 0
    names: Counter[str] = field(default_factory=Counter)

    def add(self, other: _Summary) -> None:
        self.cost += other.cost
        self.depth = max(self.depth, other.depth)
        self.aliases += other.aliases
        self.fields += other.fields
        self.names.update(other.names)


def _is_list(field_type: Any) -> bool:
    return is_list_type(field_type.of_type if is_non_null_type(field_type) else field_type)


class _Analysis:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: dict[str, Any],
        limits: DocumentLimits,
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.limits = limits
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.memo: dict[tuple[str, bool], _Summary] = {}
        self.active: set[str] = set()

    def selection_set(self, parent: Any, node: SelectionSetNode, *, paged: bool) -> _Summary:
        """`paged`: the parent field already multiplied by its page size, so its direct list
        children (`edges`, `events`) hold that page and do not multiply again."""
        total = _Summary()
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                total.add(self.field(parent, selection, paged=paged))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total.add(self.selection_set(target, selection.selection_set, paged=paged))
            elif isinstance(selection, FragmentSpreadNode):
                total.add(self.spread(selection.name.value, paged=paged))
        for name, times in total.names.items():
            if times > self.limits.max_repeats:
                raise QueryTooComplex(
                    f"field {name!r} is selected {times} times in one selection set; "
                    f"the limit is {self.limits.max_repeats}"
                )
        return total

    def spread(self, name: str, *, paged: bool) -> _Summary:
        key = (name, paged)
        cached = self.memo.get(key)
        if cached is not None:
            return cached
        fragment = self.fragments.get(name)
        if fragment is None:
            return _Summary()  # reported by validation (unknown fragment)
        if name in self.active:
            raise DocumentInvalid(f"cannot spread fragment {name!r} within itself")
        self.active.add(name)
        try:
            target = self.schema.get_type(fragment.type_condition.name.value)
            summary = self.selection_set(target, fragment.selection_set, paged=paged)
        finally:
            self.active.discard(name)
        self.memo[key] = summary
        return summary

    def field(self, parent: Any, node: FieldNode, *, paged: bool) -> _Summary:
        name = node.name.value
        alias = node.alias.value if node.alias else None
        summary = _Summary(
            cost=1, fields=1, aliases=int(alias is not None), names=Counter([alias or name])
        )
        fields = getattr(parent, "fields", None)
        definition = fields.get(name) if fields else None
        if not name.startswith("__"):
            summary.depth = 1
        if node.selection_set is None:
            return summary
        if definition is None:
            # Introspection (and unknown fields, which fail validation later): their children
            # count as fields, aliases and repeats, but cost nothing and add no depth.
            child = self.selection_set(None, node.selection_set, paged=False)
            summary.fields += child.fields
            summary.aliases += child.aliases
            return summary
        size = 1
        page = definition.args.get(PAGE_ARGUMENT)
        if page is not None:
            size = page.default_value if isinstance(page.default_value, int) else LIST_ESTIMATE
            for argument in node.arguments or ():
                if argument.name.value == PAGE_ARGUMENT:
                    value = value_from_ast(argument.value, page.type, self.variables)
                    size = value if isinstance(value, int) else size
        elif _is_list(definition.type) and not paged:
            size = LIST_ESTIMATE
        child = self.selection_set(
            get_named_type(definition.type), node.selection_set, paged=page is not None
        )
        summary.cost += max(size, 1) * child.cost
        summary.depth += child.depth
        summary.aliases += child.aliases
        summary.fields += child.fields
        return summary


def _count_spreads(node: Any) -> int:
    """Fragment spreads written in the document (not expanded); iterative, so no recursion
    limit applies whatever the nesting."""
    count, stack = 0, [node]
    while stack:
        current = stack.pop()
        selection_set = getattr(current, "selection_set", None)
        if isinstance(current, FragmentSpreadNode):
            count += 1
        if selection_set is not None:
            stack.extend(selection_set.selections)
    return count


def check_document(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    limits: DocumentLimits,
) -> None:
    """Raise QueryTooComplex, QueryTooExpensive or DocumentInvalid when the document is over a
    limit; the work done is linear in the size of the document."""
    spreads = sum(_count_spreads(d) for d in document.definitions)
    if spreads > limits.max_fragment_spreads:
        raise QueryTooComplex(
            f"the document has {spreads} fragment spreads; the limit is "
            f"{limits.max_fragment_spreads}"
        )
    analysis = _Analysis(schema, document, variables or {}, limits)
    total_fields = 0
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            total_fields += analysis.spread(definition.name.value, paged=False).fields
            continue
        if not isinstance(definition, OperationDefinitionNode):
            continue
        root = schema.get_root_type(definition.operation)
        summary = analysis.selection_set(root, definition.selection_set, paged=False)
        total_fields += summary.fields
        label = definition.name.value if definition.name else "the operation"
        if summary.depth > limits.max_depth:
            raise QueryTooComplex(
                f"{label} nests fields {summary.depth} deep; the maximum depth is "
                f"{limits.max_depth}"
            )
        if summary.aliases > limits.max_aliases:
            raise QueryTooComplex(
                f"{label} uses {summary.aliases} aliases; the limit is {limits.max_aliases}"
            )
        selected = operation_name is None or (
            definition.name is not None and definition.name.value == operation_name
        )
        if selected and summary.cost > limits.max_cost:
            raise QueryTooExpensive(
                f"query cost exceeds the limit of {limits.max_cost}: request smaller pages "
                "or fewer nested lists"
            )
    if total_fields > limits.max_fields:
        raise QueryTooComplex(
            f"the document selects {total_fields} fields once fragments are expanded; the "
            f"limit is {limits.max_fields}"
        )
