#!/usr/bin/env python3
"""Property test: every McpTenant that the CRD (schema and CEL rules) lets the API server accept,
`mcp-tenancy-operator render` accepts too.

Tenants are generated with hypothesis (fixed seed, so a run is repeatable) from the CRD's
`openAPIV3Schema` for `spec`, converted from a Kubernetes structural schema to a JSON schema
(nullable, int-or-string Quantities, preserve-unknown-fields, Go regular expressions). The leaves
are biased to what finds bugs: strings and lists at their length bounds, values the examples use,
digits-only and few-character strings, duplicated list items, optional objects present and absent,
and simple CEL rules (`has(a) != has(b)`, ...) mostly obeyed. The embedded Kubernetes types with no
constraints of their own (LabelSelector, ResourceClaim) come from hypothesis-jsonschema, kept small.

The oracle for "the CRD accepts" is the API server of KUBECONFIG: a server-side dry-run create
with strict field validation. Every tenant it accepts goes through `render -f`; each one render
refuses is written, with render's message, to --keep DIR. Exits 1 when render refused any, 0 when
none (or without KUBECONFIG, which skips). `--oracle schema` stands in the converted schema without
CEL for the API server, for working on the generator without a cluster.

usage: crd_property.py --operator BINARY [--crd FILE] [--count N] [--seed N] [--keep DIR]
"""

import argparse
import base64
import collections
import concurrent.futures
import copy
import http.client
import json
import math
import os
import pathlib
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import warnings

import jsonschema
import yaml

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import re._constants as sre_c
        import re._parser as sre_parse
    except ImportError:  # Python < 3.11
        import sre_constants as sre_c
        import sre_parse

import hypothesis
import hypothesis.strategies as st
from hypothesis import HealthCheck, Phase
from hypothesis_jsonschema import from_schema

GROUP_VERSION = "mcptenancy.dev/v1alpha1"
KIND = "McpTenant"
FIELD_MANAGER = "crd-property"

# ---------------------------------------------------------------------------------------------
# Kubernetes structural schema -> JSON schema
# ---------------------------------------------------------------------------------------------

# Go's RE2 classes are ASCII; Python's are Unicode (and Python's `$` also matches before a final
# newline). Patterns are rewritten so that Python accepts exactly what the API server accepts.
GO_CLASSES = {"s": r"\t\n\f\r ", "d": "0-9", "w": "0-9A-Za-z_"}
# Formats hypothesis-jsonschema and jsonschema know with the meaning Kubernetes gives them.
KNOWN_FORMATS = {"date-time", "date", "email", "ipv4", "ipv6", "uuid", "hostname"}


class Unsupported(Exception):
    pass


def go_regex(pattern):
    """A Python regular expression that matches what the Go (RE2) `pattern` matches."""
    out = []
    i = 0
    in_class = False
    class_start = False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            n = pattern[i + 1]
            if n in GO_CLASSES:
                out.append(GO_CLASSES[n] if in_class else f"[{GO_CLASSES[n]}]")
            elif n in "SDW":
                if in_class:
                    raise Unsupported(f"negated class escape inside a class: {pattern}")
                out.append(f"[^{GO_CLASSES[n.lower()]}]")
            elif n == "z":
                out.append(r"\Z")
            else:
                out.append(c + n)
            i += 2
            class_start = False
            continue
        if in_class:
            if c == "]" and not class_start:
                in_class = False
            class_start = class_start and c == "^"
            out.append(c)
        elif c == "[":
            in_class = True
            class_start = True
            out.append(c)
        elif c == "$":
            out.append(r"\Z")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def convert(node):
    """The JSON schema (draft 7) of a Kubernetes structural schema node. Keys starting with `x-`
    that stay behind carry what generation needs (CEL rules, list types, defaults); JSON schema
    validators ignore them, and `plain()` removes them for hypothesis-jsonschema."""
    if node.get("x-kubernetes-int-or-string"):
        out = {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-int-or-string": True}
    else:
        out = {}
        t = node.get("type")
        if t:
            out["type"] = t
        for key in (
            "enum", "minLength", "maxLength", "minItems", "maxItems", "minProperties",
            "maxProperties", "minimum", "maximum", "multipleOf", "required",
        ):
            if key in node:
                out[key] = copy.deepcopy(node[key])
        if "pattern" in node:
            out["pattern"] = go_regex(node["pattern"])
            out["x-go-pattern"] = node["pattern"]
        for key in ("exclusiveMinimum", "exclusiveMaximum"):  # OpenAPI 3.0: booleans
            if node.get(key) is True:
                bound = key.replace("exclusiveM", "m")
                out[key] = out.pop(bound)
        if node.get("format") in KNOWN_FORMATS:
            out["format"] = node["format"]
        if "properties" in node:
            out["properties"] = {k: convert(v) for k, v in node["properties"].items()}
        if "items" in node:
            out["items"] = convert(node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            out["additionalProperties"] = convert(node["additionalProperties"])
        elif "additionalProperties" in node:
            out["additionalProperties"] = node["additionalProperties"]
        for key in ("anyOf", "allOf", "oneOf"):
            if key in node:
                out[key] = [convert(s) for s in node[key]]
        if "not" in node:
            out["not"] = convert(node["not"])
        preserves = node.get("x-kubernetes-preserve-unknown-fields") is True
        if "properties" in node and "additionalProperties" not in node and not preserves:
            out["additionalProperties"] = False
        if preserves:
            out["x-preserve"] = True
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "anyOf" in out:
            out["anyOf"].append({"type": "null"})
        if "enum" in out:
            out["enum"] = out["enum"] + [None]
        out["x-nullable"] = True
    if "default" in node:
        out["x-default"] = node["default"]
    if node.get("x-kubernetes-validations"):
        out["x-cel"] = [v["rule"] for v in node["x-kubernetes-validations"]]
    if node.get("x-kubernetes-list-type"):
        out["x-list-type"] = node["x-kubernetes-list-type"]
        out["x-list-map-keys"] = node.get("x-kubernetes-list-map-keys", [])
    return out


def plain(schema):
    """`schema` without the generation-only `x-` keys."""
    if isinstance(schema, dict):
        return {k: plain(v) for k, v in schema.items() if not k.startswith("x-")}
    if isinstance(schema, list):
        return [plain(v) for v in schema]
    return schema


def load_crd(path):
    crd = yaml.safe_load(pathlib.Path(path).read_text())
    version = next(v for v in crd["spec"]["versions"] if v.get("storage", True))
    root = version["schema"]["openAPIV3Schema"]
    return crd, version["name"], root


def object_schema(root):
    """The JSON schema of a whole McpTenant object (the API server checks the envelope itself)."""
    schema = convert(root)
    schema.setdefault("properties", {}).update(
        apiVersion={"type": "string"}, kind={"type": "string"}, metadata={"type": "object"}
    )
    return schema


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------

# Characters a string may be made of where a class or `.` allows them: ASCII, and the non-ASCII
# ones parsers tend to trip on (no-break space and other Unicode spaces, which are whitespace for
# Rust's `\s` but not Go's, letters with case, a BOM, an emoji).
ASCII = [chr(c) for c in range(32, 127)]
SPECIAL = ["\t", "\n", "\r", "\x0b", "\x0c", "\x00", "\x7f", "\x85", "\xa0", "\u2028", "\u3000",
           "\ufeff", "é", "É", "ß", "İ", "Ω", "日", "😀"]
POOL = ASCII + SPECIAL
ALNUM = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
UNBOUNDED = 10**6  # the width of `*` and `+`
TEXT_CAP = 40  # longest string generated where neither schema nor pattern bound it
LIST_CAP = 4  # longest list where the schema does not bound it
MAP_CAP = 3
# Names of resources, for maps of Quantities (ResourceList).
RESOURCE_NAMES = ["cpu", "memory", "ephemeral-storage", "hugepages-2Mi", "example.com/gpu"]


def chance(draw, percent):
    return draw(st.integers(0, 99)) < percent


def alphabet(candidates, mode, narrow):
    """The characters of `candidates` a string drawn in `mode` uses (one mode per string)."""
    if mode == "narrow":
        chosen = [c for c in candidates if c in narrow]
    elif mode == "digits":
        chosen = [c for c in candidates if c.isascii() and c.isdigit()]
    elif mode == "alnum":
        chosen = [c for c in candidates if c in ALNUM]
    elif mode == "ascii":
        chosen = [c for c in candidates if c.isascii()]
    else:
        chosen = candidates
    return chosen or [c for c in candidates if c.isascii()] or candidates


def pick_char(draw, candidates, mode, narrow):
    return draw(st.sampled_from(alphabet(candidates, mode, narrow)))


def single_char(op, av):
    """The characters one-character regex item admits, or None when it is not one."""
    if op is sre_c.LITERAL:
        return [chr(av)]
    if op is sre_c.NOT_LITERAL:
        return [c for c in POOL if ord(c) != av]
    if op is sre_c.ANY:
        return [c for c in POOL if c != "\n"]
    if op is sre_c.IN:
        return class_candidates(av)
    return None


def class_candidates(items):
    """Characters of POOL (and of the class's own ranges) that a `[...]` class admits."""
    negate = any(op is sre_c.NEGATE for op, _ in items)
    own = set()
    for op, av in items:
        if op is sre_c.LITERAL:
            own.add(chr(av))
        elif op is sre_c.RANGE:
            lo, hi = av
            if hi - lo <= 256:
                own.update(chr(c) for c in range(lo, hi + 1))
            else:
                own.update(chr(c) for c in (lo, hi, (lo + hi) // 2))
        elif op is sre_c.CATEGORY or op is sre_c.NEGATE:
            pass
        else:
            raise Unsupported(f"class item {op}")

    def member(ch):
        o = ord(ch)
        for op, av in items:
            if op is sre_c.LITERAL and av == o:
                return True
            if op is sre_c.RANGE and av[0] <= o <= av[1]:
                return True
            if op is sre_c.CATEGORY:
                raise Unsupported("category in class")
        return False

    if negate:
        return [c for c in POOL if not member(c)]
    return sorted(own | {c for c in POOL if member(c)})


def width(items):
    lo = hi = 0
    for op, av in items:
        if op in (sre_c.LITERAL, sre_c.NOT_LITERAL, sre_c.IN, sre_c.ANY):
            lo, hi = lo + 1, hi + 1
        elif op is sre_c.SUBPATTERN:
            a, b = width(av[3])
            lo, hi = lo + a, hi + b
        elif op is sre_c.BRANCH:
            ws = [width(b) for b in av[1]]
            lo, hi = lo + min(w[0] for w in ws), hi + max(w[1] for w in ws)
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
            mn, mx, sub = av
            a, b = width(sub)
            mx = UNBOUNDED if mx == sre_c.MAXREPEAT else mx
            lo, hi = lo + mn * a, hi + min(UNBOUNDED, mx * b)
        elif op is sre_c.AT:
            pass
        else:
            raise Unsupported(f"regex construct {op}")
    return lo, min(hi, UNBOUNDED)


def generate_regex(draw, items, target, mode, narrow):
    """A string matching the parsed regex `items`, as close to `target` characters as it allows."""
    out = []
    for i, (op, av) in enumerate(items):
        rest_lo, rest_hi = width(items[i + 1:])
        lo, hi = width([(op, av)])
        t_lo, t_hi = max(lo, target - rest_hi), min(hi, target - rest_lo)
        if t_lo > t_hi:
            t_lo = t_hi = lo if target - rest_lo < lo else hi
        t = t_lo if t_lo == t_hi else draw(st.integers(t_lo, t_hi))
        chars = single_char(op, av)
        if chars is not None:
            s = chars[0] if len(chars) == 1 else pick_char(draw, chars, mode, narrow)
        elif op is sre_c.SUBPATTERN:
            s = generate_regex(draw, av[3], t, mode, narrow)
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT) and len(av[2]) == 1 \
                and single_char(*av[2][0]) is not None:
            # A run of one class: one draw for the whole run, not one per character.
            mn, mx, sub = av
            n = max(mn, min(t, UNBOUNDED if mx == sre_c.MAXREPEAT else mx))
            chars = "".join(alphabet(single_char(*sub[0]), mode, narrow))
            s = draw(st.text(alphabet=chars, min_size=n, max_size=n))
        elif op is sre_c.BRANCH:
            fits = [b for b in av[1] if width(b)[0] <= t <= width(b)[1]] or av[1]
            s = generate_regex(draw, draw(st.sampled_from(fits)), t, mode, narrow)
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
            mn, mx, sub = av
            mx = UNBOUNDED if mx == sre_c.MAXREPEAT else mx
            a, b = width(sub)
            if b == 0:
                n = mn
            else:
                n_lo = max(mn, -(-t // b))
                n_hi = min(mx, t // a) if a else min(mx, max(n_lo, t))
                if n_lo > n_hi:
                    n_lo = n_hi = max(mn, min(mx, n_hi))
                # Few iterations, mostly: every one costs draws.
                if n_hi > n_lo + 4 and chance(draw, 80):
                    n_hi = n_lo + 4
                n = n_lo if n_lo == n_hi else draw(st.integers(n_lo, n_hi))
            parts = []
            left = t
            for j in range(n):
                r = n - j - 1
                p_lo, p_hi = max(a, left - r * b), min(b, left - r * a)
                if p_lo > p_hi:
                    p_lo = p_hi = a
                p = p_lo if p_lo == p_hi else draw(st.integers(p_lo, p_hi))
                piece = generate_regex(draw, sub, p, mode, narrow)
                parts.append(piece)
                left -= len(piece)
            s = "".join(parts)
        elif op is sre_c.AT:
            s = ""
        else:
            raise Unsupported(f"regex construct {op}")
        out.append(s)
        target -= len(s)
    return "".join(out)


class Builder:
    """Hypothesis strategies for the converted schema, biased as the module doc says."""

    def __init__(self, seeds, obey_percent):
        self.seeds = seeds  # path -> values seen in the examples
        self.obey = obey_percent
        self.paths = {}  # path -> schema node, every field the spec defines

    def build(self, node, path, small=False):
        self.paths.setdefault(path, node)
        if node.get("x-int-or-string"):
            s = self.quantity(path)
        elif "enum" in node:
            s = st.sampled_from(node["enum"])
        else:
            types = node.get("type")
            t = [x for x in types if x != "null"][0] if isinstance(types, list) else types
            if t == "object" and "properties" in node and self.unconstrained(node):
                s = self.delegated(node, path)
            elif t == "object" and "properties" in node:
                s = self.object(node, path, small)
            elif t == "object" and isinstance(node.get("additionalProperties"), dict):
                s = self.map(node, path, small)
            elif t == "object":
                s = st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 3), max_size=2) \
                    if node.get("x-preserve") else st.just({})
            elif t == "array":
                s = self.array(node, path, small)
            elif t == "string":
                s = self.string(node, path, small)
            elif t in ("integer", "number"):
                s = self.number(node, t)
            elif t == "boolean":
                s = st.booleans()
            else:
                s = from_schema(plain(node))
        if node.get("x-nullable"):
            inner = s

            @st.composite
            def nullable(draw):
                return None if chance(draw, 6) else draw(inner)
            s = nullable()
        return s

    # Subtrees the tenant spec takes from Kubernetes (LabelSelector, ...) bound nothing and have
    # no rules: hypothesis-jsonschema generates them, with their lists and maps kept small.
    def unconstrained(self, node):
        def bounded(n):
            if not isinstance(n, dict):
                return False
            if any(k in n for k in ("pattern", "minLength", "maxLength", "minItems", "maxItems",
                                    "x-cel", "x-int-or-string", "minimum", "maximum")):
                return True
            return any(bounded(v) for v in n.get("properties", {}).values()) or \
                bounded(n.get("items")) or bounded(n.get("additionalProperties"))
        return not bounded(node)

    def delegated(self, node, path):
        def record(n, p):
            self.paths.setdefault(p, n)
            for k, v in n.get("properties", {}).items():
                record(v, f"{p}.{k}")
            if isinstance(n.get("items"), dict):
                record(n["items"], p + "[]")
            if isinstance(n.get("additionalProperties"), dict):
                record(n["additionalProperties"], p + ".*")
        record(node, path)

        def limit(n):
            if isinstance(n, dict):
                n = {k: limit(v) for k, v in n.items()}
                t = n.get("type")
                if t == "array" or t == ["array", "null"]:
                    n.setdefault("maxItems", 3)
                if (t == "object" or t == ["object", "null"]) and "properties" not in n:
                    n.setdefault("maxProperties", 3)
                if t == "string" or t == ["string", "null"]:
                    n.setdefault("maxLength", 24)
            return n
        return from_schema(limit(plain(node)))

    def cel_hints(self, node):
        """The CEL rules of one shape or another, as fixes to apply to a drawn object."""
        hints = []
        for rule in node.get("x-cel", []):
            r = " ".join(rule.split())
            if "oldSelf" in r:
                continue  # transition rules do not apply on create
            if m := re.fullmatch(r"has\(self\.(\w+)\) != has\(self\.(\w+)\)", r):
                hints.append(("one", m[1], m[2]))
            elif m := re.fullmatch(r"has\(self\.(\w+)\) \|\| has\(self\.(\w+)\)", r):
                hints.append(("any", m[1], m[2]))
            elif m := re.fullmatch(r"!\(has\(self\.(\w+)\) && has\(self\.(\w+)\)\)", r):
                hints.append(("notboth", m[1], m[2]))
            elif m := re.fullmatch(r"\(self\.(\w+) == '([^']*)'\) == has\(self\.(\w+)\)", r):
                hints.append(("iff", m[1], m[2], m[3]))
            elif m := re.fullmatch(r"self\.(\w+) <= self\.(\w+)", r):
                hints.append(("le", m[1], m[2]))
        return hints

    def object(self, node, path, small):
        props = node["properties"]
        required = set(node.get("required", []))
        subs = {k: self.build(v, f"{path}.{k}", small) for k, v in props.items()}
        hints = self.cel_hints(node)
        obey = self.obey

        @st.composite
        def gen(draw):
            present = {k: k in required or chance(draw, 50) for k in props}
            follow = hints and chance(draw, obey)
            if follow:
                for h in hints:
                    kind, a, b = h[0], h[1], h[-1]
                    if kind == "one" and present[a] == present[b]:
                        keep = draw(st.sampled_from([a, b]))
                        present[a], present[b] = keep == a, keep == b
                    elif kind == "any" and not (present[a] or present[b]):
                        present[draw(st.sampled_from([a, b]))] = True
                    elif kind == "notboth" and present[a] and present[b]:
                        present[draw(st.sampled_from([a, b]))] = False
            out = {k: draw(subs[k]) for k in props if present[k]}
            if follow:
                for h in hints:
                    if h[0] == "iff":
                        _, field, value, target = h
                        actual = out.get(field, props[field].get("x-default"))
                        if (actual == value) and target not in out:
                            out[target] = draw(subs[target])
                        elif actual != value and target not in required:
                            out.pop(target, None)
                    elif h[0] == "le":
                        _, a, b = h
                        if isinstance(out.get(a), (int, float)) and isinstance(out.get(b), (int, float)) \
                                and out[a] > out[b]:
                            out[a], out[b] = out[b], out[a]
            return out
        return gen()

    def map(self, node, path, small):
        values = self.build(node["additionalProperties"], path + ".*", True)
        quantities = node["additionalProperties"].get("x-int-or-string")
        names = list(self.seeds.get(path + ".keys", []))
        if quantities:
            names += [n for n in RESOURCE_NAMES if n not in names]
        key_node = {"type": "string", "minLength": 1, "maxLength": 63}
        free_keys = self.string(key_node, path + ".keys", True)
        keys = st.one_of(st.sampled_from(names), free_keys) if names else free_keys
        if quantities:
            keys = st.sampled_from(names)
        hi = node.get("maxProperties", MAP_CAP)
        return st.dictionaries(keys, values, min_size=node.get("minProperties", 0), max_size=hi)

    def array(self, node, path, small):
        item_node = node["items"]
        item = self.build(item_node, path + "[]", small)
        small_item = self.build(item_node, path + "[]", True)
        lo = node.get("minItems", 0)
        hi = node.get("maxItems")
        list_type = node.get("x-list-type")
        keys = node.get("x-list-map-keys", [])
        item_regex = re.compile(item_node["pattern"]) if "pattern" in item_node else None
        obey = self.obey

        @st.composite
        def gen(draw):
            roll = draw(st.integers(0, 99))
            if hi is not None and roll < (3 if small else 10):
                n = hi
            elif roll < 30:
                n = lo
            else:
                n = draw(st.integers(lo, min(hi if hi is not None else LIST_CAP, lo + (2 if small else 3))))
            strategy = small_item if n > 8 else item
            out = [draw(strategy) for _ in range(n)]
            if list_type in ("map", "set") and chance(draw, obey):
                # Unique keys, as the API server requires; topped up to n again.
                def key(x):
                    k = [x.get(k) for k in keys] if list_type == "map" and isinstance(x, dict) else x
                    return json.dumps(k, sort_keys=True)
                unique = list({key(x): x for x in reversed(out)}.values())[::-1]
                for _ in range(2 * (n - len(unique))):
                    if len(unique) >= n:
                        break
                    x = draw(strategy)
                    if all(key(x) != key(u) for u in unique):
                        unique.append(x)
                if len(unique) >= lo:
                    out = unique
            elif list_type is None and out and chance(draw, 12):
                # A duplicate, or for strings one that differs in case only.
                dup = copy.deepcopy(draw(st.sampled_from(out)))
                if isinstance(dup, str) and chance(draw, 50):
                    swapped = dup.swapcase()
                    if item_regex is None or item_regex.search(swapped):
                        dup = swapped
                if hi is None or len(out) < hi:
                    out.insert(draw(st.integers(0, len(out))), dup)
                else:
                    out[draw(st.integers(0, len(out) - 1))] = dup
            return out
        return gen()

    def length_target(self, draw, lo, hi, bounded, small):
        roll = draw(st.integers(0, 99))
        if roll < 10:
            return lo
        if bounded and roll < (14 if small else 25):
            return hi
        return draw(st.integers(lo, max(lo, min(hi, lo + (8 if small else 24)))))

    def string(self, node, path, small):
        seeds = [s for s in self.seeds.get(path, []) if isinstance(s, str)]
        min_len = node.get("minLength", 0)
        max_len = node.get("maxLength")
        pattern = node.get("pattern")
        regex = re.compile(pattern) if pattern else None
        items = None
        if pattern:
            try:
                items = list(sre_parse.parse(pattern))
                p_lo, p_hi = width(items)
            except Unsupported:
                items = None
        if items is not None:
            lo = max(min_len, p_lo)
            hi = min(max_len if max_len is not None else UNBOUNDED, p_hi)
        else:
            lo, hi = min_len, max_len if max_len is not None else UNBOUNDED
        bounded = hi < UNBOUNDED
        if not bounded:
            hi = max(lo, TEXT_CAP)
        fallback = st.from_regex(regex, fullmatch=True) if regex else st.text()
        fallback = fallback.filter(lambda s: min_len <= len(s) <= (max_len or UNBOUNDED))

        def valid(s):
            return (regex is None or regex.search(s)) and min_len <= len(s) <= (max_len or UNBOUNDED)

        @st.composite
        def gen(draw):
            if seeds and chance(draw, 35):
                return draw(st.sampled_from(seeds))
            roll = draw(st.integers(0, 99))
            mode = "alnum" if roll < 45 else "ascii" if roll < 70 else "any" if roll < 85 \
                else "digits" if roll < 93 else "narrow"
            narrow = None
            if mode == "narrow":
                narrow = set(draw(st.text(alphabet="".join(ASCII), min_size=1, max_size=3)))
            target = self.length_target(draw, lo, hi, bounded, small)
            if items is not None:
                s = generate_regex(draw, items, target, mode, narrow)
            elif regex is None:
                s = draw(st.text(alphabet="".join(alphabet(POOL, mode, narrow)), min_size=target,
                                 max_size=target))
            else:
                s = None
            if s is None or not valid(s):
                s = draw(fallback)
            return s
        return gen()

    def number(self, node, t):
        leaf = {k: node[k] for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                     "multipleOf") if k in node}
        leaf["type"] = t
        bounds = [node[k] for k in ("minimum", "maximum") if k in node]
        if t == "integer":
            bounds = [int(b) for b in bounds]
            leaf.update({k: int(v) for k, v in leaf.items() if k in ("minimum", "maximum")})
        general = from_schema(leaf)
        return st.one_of(st.sampled_from(bounds), general) if bounds else general

    def quantity(self, path):
        """A Kubernetes Quantity: <sign><number><suffix>, mostly the everyday ones, or an integer."""
        seeds = self.seeds.get(path, [])
        suffixes = ["", "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
                    "e3", "E2", "e-3", "e+6"]

        @st.composite
        def gen(draw):
            roll = draw(st.integers(0, 99))
            if seeds and roll < 30:
                return draw(st.sampled_from(seeds))
            if roll < 45:
                return draw(st.integers(0, 64))
            whole = str(draw(st.integers(0, 9999)))
            frac = draw(st.sampled_from(["", "", "", ".5", ".25", ".125", "."]))
            if frac == "." and chance(draw, 50):
                whole, frac = "", ".5"
            sign = "-" if chance(draw, 3) else "+" if chance(draw, 3) else ""
            return sign + whole + frac + draw(st.sampled_from(suffixes))
        return gen()


def example_seeds(schema, paths):
    """Values (and map keys) the valid examples use, by schema path (`spec.a[].b`, `spec.m.*`)."""
    seeds = collections.defaultdict(list)

    def walk(node, value, path):
        if not isinstance(node, dict) or value is None:
            return
        if isinstance(value, dict):
            props = node.get("properties")
            extra = node.get("additionalProperties")
            for k, v in value.items():
                if props and k in props:
                    walk(props[k], v, f"{path}.{k}")
                elif isinstance(extra, dict):
                    if k not in seeds[path + ".keys"]:
                        seeds[path + ".keys"].append(k)
                    walk(extra, v, path + ".*")
        elif isinstance(value, list):
            for v in value:
                walk(node.get("items", {}), v, path + "[]")
        elif value not in seeds[path]:
            seeds[path].append(value)

    for p in paths:
        for doc in yaml.safe_load_all(pathlib.Path(p).read_text()):
            if isinstance(doc, dict) and doc.get("kind") == KIND:
                walk(schema, doc.get("spec"), "spec")
    return seeds


def generate(strategy, count, seed):
    """`count` values of `strategy`, the same ones for the same seed."""
    out = []

    @hypothesis.settings(
        max_examples=count, database=None, deadline=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck), print_blob=False, derandomize=False,
    )
    @hypothesis.seed(seed)
    @hypothesis.given(strategy)
    def collect(value):
        out.append(value)

    collect()
    return out[:count]


def tenant_name(seed, i):
    base = f"p{seed}-{i:04d}"
    if i % 10 == 9:  # at the 58-character bound
        base = base + "-" + "x" * (57 - len(base) - 1) + "z"
    return base


def coverage(tenants, paths):
    """Which fields the tenants set, and which strings and lists reach their maximum length."""
    seen = set()
    at_max = set()

    def walk(value, path):
        seen.add(path)
        node = paths.get(path, {})
        if isinstance(value, str) and "maxLength" in node and len(value) == node["maxLength"]:
            at_max.add(path)
        if isinstance(value, list):
            if "maxItems" in node and len(value) == node["maxItems"]:
                at_max.add(path)
            for v in value:
                walk(v, path + "[]")
        elif isinstance(value, dict):
            props = node.get("properties")
            for k, v in value.items():
                walk(v, f"{path}.{k}" if props and k in props else path + ".*")

    for t in tenants:
        walk(t["spec"], "spec")
    fields = set(paths)
    bounded = {p for p, n in paths.items() if "maxLength" in n or "maxItems" in n}
    return fields - seen, len(fields), bounded - at_max, len(bounded)


# ---------------------------------------------------------------------------------------------
# YAML written for render: exact, whatever YAML version the reader resolves plain scalars with
# ---------------------------------------------------------------------------------------------

NON_STRING = re.compile(
    r"(~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))"
)


class ExactDumper(yaml.SafeDumper):
    pass


def _represent_str(dumper, value):
    style = '"' if NON_STRING.fullmatch(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


ExactDumper.add_representer(str, _represent_str)


def to_yaml(obj):
    text = yaml.dump(obj, Dumper=ExactDumper, sort_keys=False, allow_unicode=False, width=math.inf)
    if yaml.safe_load(text) != obj:
        raise AssertionError(f"YAML does not round-trip: {obj!r}")
    return text


# ---------------------------------------------------------------------------------------------
# The API server
# ---------------------------------------------------------------------------------------------


class ApiServer:
    def __init__(self, kubeconfig_path):
        cfg = yaml.safe_load(pathlib.Path(kubeconfig_path).read_text())
        base = pathlib.Path(kubeconfig_path).parent
        ctx_name = cfg.get("current-context")
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next((u["user"] for u in cfg.get("users", []) if u["name"] == ctx.get("user")), {})
        url = urllib.parse.urlsplit(cluster["server"])
        self.host, self.port = url.hostname, url.port or 443
        self.prefix = url.path.rstrip("/")
        self.server = cluster["server"]
        context = ssl.create_default_context()
        if cluster.get("insecure-skip-tls-verify"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif "certificate-authority-data" in cluster:
            context.load_verify_locations(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        elif "certificate-authority" in cluster:
            context.load_verify_locations(cafile=str(base / cluster["certificate-authority"]))
        self.headers = {"Accept": "application/json"}
        token = user.get("token")
        if not token and user.get("tokenFile"):
            token = (base / user["tokenFile"]).read_text().strip()
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        cert, key = user.get("client-certificate-data"), user.get("client-key-data")
        if cert and key:
            self._tmp = tempfile.TemporaryDirectory()
            cpath, kpath = (pathlib.Path(self._tmp.name) / n for n in ("crt", "key"))
            cpath.write_bytes(base64.b64decode(cert))
            kpath.write_bytes(base64.b64decode(key))
            context.load_cert_chain(cpath, kpath)
        elif user.get("client-certificate") and user.get("client-key"):
            context.load_cert_chain(base / user["client-certificate"], base / user["client-key"])
        self.context = context
        self.local = threading.local()

    def request(self, method, path, body=None, content_type="application/json"):
        """(status, decoded JSON body) of one request, over a kept-alive connection per thread."""
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = content_type
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            body = body.encode() if isinstance(body, str) else body
        for attempt in range(3):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=30)
                self.local.conn = conn
            try:
                conn.request(method, self.prefix + path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.5)
        try:
            decoded = json.loads(data) if data else {}
        except ValueError:
            decoded = {"message": data.decode(errors="replace")}
        return resp.status, decoded


def ensure_crd(api, crd_path, crd):
    """Installs the CRD of `crd_path` (server-side apply, forced) unless the cluster has the same
    one; waits until it is Established. Returns a sentence about what it did."""
    name = crd["metadata"]["name"]
    path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
    status, current = api.request("GET", path)
    if status == 200 and same_crd(current, crd):
        action = "installed CRD matches the file"
    elif status in (200, 404):
        action = "installed the CRD" if status == 404 else "updated the CRD from the file"
        status, body = api.request(
            "PATCH", f"{path}?fieldManager={FIELD_MANAGER}&force=true",
            body=pathlib.Path(crd_path).read_text(), content_type="application/apply-patch+yaml")
        if status not in (200, 201):
            raise CrdRejected(f"the API server refused the CRD (HTTP {status}): {body.get('message', body)}")
    else:
        raise RuntimeError(f"GET {path}: HTTP {status}: {current.get('message', current)}")
    deadline = time.time() + 60
    while True:
        status, current = api.request("GET", path)
        conditions = {c["type"]: c["status"] for c in current.get("status", {}).get("conditions", [])}
        if status == 200 and conditions.get("Established") == "True" and same_crd(current, crd):
            break
        if time.time() > deadline:
            raise CrdRejected(f"CRD {name} not Established after 60 s: {conditions}")
        time.sleep(0.5)
    if not action.startswith("installed CRD matches"):
        time.sleep(2)  # the API server's handler picks up a changed schema asynchronously
    return action


class CrdRejected(Exception):
    pass


def same_crd(current, crd):
    want, have = crd["spec"], current.get("spec", {})
    for key in ("group", "scope"):
        if want.get(key) != have.get(key):
            return False
    for key, value in want.get("names", {}).items():
        if have.get("names", {}).get(key) != value:
            return False
    strip = ("served", "storage", "name", "schema", "subresources", "additionalPrinterColumns")
    w = [{k: v.get(k) for k in strip} for v in want.get("versions", [])]
    h = [{k: v.get(k) for k in strip} for v in have.get("versions", [])]
    return w == h


# ---------------------------------------------------------------------------------------------
# Classes of refusals
# ---------------------------------------------------------------------------------------------


def api_refusal_class(body):
    causes = (body.get("details") or {}).get("causes") or []
    if causes:
        c = causes[0]
        text = f"{c.get('field', '')}: {c.get('message', '')}"
    else:
        text = body.get("message", json.dumps(body)).splitlines()[0]
        text = re.sub(r'^\S+ "[^"]*" is invalid: ', "", text)
    text = re.sub(r'Invalid value: ("(?:[^"\\]|\\.)*"|\S+): ', "", text)
    text = re.sub(r'\[\d+\]', "[*]", text)
    return text[:200]


def render_refusal_class(message):
    lines = message.strip().splitlines() or ["(no message)"]
    text = lines[0]
    if text.endswith(":") and len(lines) > 1:
        text += " " + lines[1].strip()
    text = re.sub(r'^error: (\S+\.yaml: )?', "", text)
    text = re.sub(r'\[\d+\]', "[*]", text)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '"…"', text)
    text = re.sub(r'\b\d[\w.]*', "N", text)
    return text[:200]


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--operator", required=True, help="the mcp-tenancy-operator binary")
    ap.add_argument("--crd", default="crds/mcptenancy.dev_mcptenants.yaml")
    ap.add_argument("--examples", nargs="*", default=None, help="valid manifests to seed values from")
    ap.add_argument("--installed", action="store_true",
                    help="test the CRD installed in the cluster as it is, not --crd")
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", help="directory for the tenants render refuses (default: a new temp dir)")
    ap.add_argument("--jobs", type=int, default=2, help="renders at once")
    ap.add_argument("--obey-cel", type=int, default=93,
                    help="percent of objects made to satisfy their simple CEL rules (default 93)")
    ap.add_argument("--oracle", choices=["api", "schema"], default="api",
                    help="api: KUBECONFIG's API server (default); schema: the converted schema, no CEL")
    args = ap.parse_args()
    started = time.time()

    kubeconfig = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if args.oracle == "api" and not kubeconfig:
        print("crd-property: skipped: KUBECONFIG not set")
        return 0

    api = ApiServer(kubeconfig) if args.oracle == "api" else None
    if args.installed and api:
        status, crd = api.request(
            "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/mcptenants.mcptenancy.dev")
        if status != 200:
            print(f"crd-property: FAIL: no installed CRD (HTTP {status})")
            return 1
        version = next(v for v in crd["spec"]["versions"] if v.get("storage", True))
        version, root = version["name"], version["schema"]["openAPIV3Schema"]
        args.crd = "the installed CRD"
    else:
        crd, version, root = load_crd(args.crd)
    if f"{crd['spec']['group']}/{version}" != GROUP_VERSION or crd["spec"]["names"]["kind"] != KIND:
        print(f"crd-property: {args.crd} is not the {KIND} CRD of {GROUP_VERSION}", file=sys.stderr)
        return 1
    whole = object_schema(root)
    validator = jsonschema.Draft7Validator(whole)
    spec_schema = whole["properties"]["spec"]
    examples = args.examples
    if examples is None:
        examples = sorted(str(p) for p in pathlib.Path("examples").glob("*.yaml"))
    builder = Builder(example_seeds(spec_schema, examples), args.obey_cel)
    spec_strategy = builder.build(spec_schema, "spec")

    crd_action = None
    if api and not args.installed:
        try:
            crd_action = ensure_crd(api, args.crd, crd)
        except CrdRejected as e:
            print(f"crd-property: FAIL: {e}")
            return 1

    t0 = time.time()
    specs = generate(spec_strategy, args.count, args.seed)
    tenants = [
        {"apiVersion": GROUP_VERSION, "kind": KIND, "metadata": {"name": tenant_name(args.seed, i)},
         "spec": spec}
        for i, spec in enumerate(specs)
    ]
    outside = [(t, e) for t in tenants for e in [jsonschema.exceptions.best_match(validator.iter_errors(t))]
               if e is not None]
    missing, n_fields, not_at_max, n_bounded = coverage(tenants, builder.paths)
    t_generate = time.time() - t0

    print(f"crd-property: {args.crd}, seed {args.seed}, oracle "
          f"{'API server ' + api.server if api else 'converted schema (no CEL)'}"
          + (f" ({crd_action})" if crd_action else ""))
    print(f"generator: {n_fields - len(missing)}/{n_fields} fields set at least once, "
          f"{n_bounded - len(not_at_max)}/{n_bounded} strings and lists at their maximum length at least once"
          f", {len(outside)} tenants outside the schema")
    if missing:
        print(f"  never set: {', '.join(sorted(missing))}")
    if not_at_max:
        print(f"  never at maximum: {', '.join(sorted(not_at_max))}")
    for t, e in outside[:5]:
        print(f"  outside the schema (generator bug): {t['metadata']['name']}: {e.json_path}: {e.message[:200]}")

    # The oracle: which tenants the CRD accepts.
    t0 = time.time()
    accepted, api_refused = [], collections.Counter()
    api_examples = {}

    def admit(tenant):
        if api is None:
            errors = list(validator.iter_errors(tenant))
            if errors:
                e = jsonschema.exceptions.best_match(errors)
                return False, f"{e.json_path}: {e.message[:150]}", e.message
            return True, None, None
        path = f"/apis/{GROUP_VERSION}/mcptenants?dryRun=All&fieldValidation=Strict"
        for attempt in range(20):
            status, body = api.request("POST", path, body=tenant)
            if status == 404 and attempt < 19:  # a CRD just installed may not be served yet
                time.sleep(0.5)
                continue
            break
        if status in (200, 201):
            return True, None, None
        if 400 <= status < 500 and status not in (401, 403, 404):
            return False, api_refusal_class(body), body.get("message", "")
        raise RuntimeError(f"POST {path}: HTTP {status}: {body.get('message', body)}")

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for tenant, (ok, cls, message) in zip(tenants, pool.map(admit, tenants)):
            if ok:
                accepted.append(tenant)
            else:
                api_refused[cls] += 1
                api_examples.setdefault(cls, message)
    t_api = time.time() - t0

    # render -f on every accepted tenant.
    t0 = time.time()
    keep = pathlib.Path(args.keep) if args.keep else pathlib.Path(tempfile.mkdtemp(prefix="crd-property-"))
    keep.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="crd-property-work-"))

    def render(tenant):
        name = tenant["metadata"]["name"]
        path = work / f"{name}.yaml"
        path.write_text(to_yaml(tenant))
        proc = subprocess.run([args.operator, "render", "-f", str(path)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=120)
        return tenant, proc.returncode, proc.stderr.strip().replace(f"{path}: ", "")

    rendered_ok = 0
    refusals = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for tenant, code, message in pool.map(render, accepted):
            if code == 0:
                rendered_ok += 1
                continue
            name = tenant["metadata"]["name"]
            kept = keep / f"{name}.yaml"
            header = "".join(f"# {line}\n" for line in
                             [f"render exited {code}; the API server accepted this tenant:"]
                             + message.splitlines())
            kept.write_text(header + to_yaml(tenant))
            refusals.append((name, code, message, kept))
    shutil.rmtree(work, ignore_errors=True)
    t_render = time.time() - t0

    print(f"generated:                  {len(tenants)}")
    print(f"accepted by the API server: {len(accepted)}" if api else
          f"accepted by the schema:     {len(accepted)}")
    print(f"refused by the API server:  {sum(api_refused.values())}" if api else
          f"refused by the schema:      {sum(api_refused.values())}")
    for cls, n in api_refused.most_common(15):
        print(f"  {n:5}  {cls}")
    if len(api_refused) > 15:
        print(f"  ({len(api_refused) - 15} more classes)")
    print(f"rendered OK:                {rendered_ok}")
    print(f"refused by render:          {len(refusals)}")
    classes = collections.defaultdict(list)
    for r in refusals:
        classes[render_refusal_class(r[2])].append(r)
    for cls, rs in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        name, code, message, kept = rs[0]
        print(f"  {len(rs):5}  {cls}")
        example = " ".join(line.strip() for line in message.splitlines()[:2]) if message else f"exit {code}"
        print(f"         e.g. {example[:300]}  ({kept})")
    if refusals:
        print(f"refused tenants, with render's message at the top of each file, in {keep}:")
        for name, code, message, kept in refusals:
            first = " ".join(message.split("\n")[:2]) if message else f"exit {code}"
            print(f"  {name}: {first[:300]}")
    elif not args.keep:
        keep.rmdir()
    total = time.time() - started
    print(f"took {total:.0f} s (generate {t_generate:.0f} s, API server {t_api:.0f} s, "
          f"render {t_render:.0f} s)")
    if refusals:
        print(f"crd-property: FAIL: render refused {len(refusals)} of the {len(accepted)} tenants "
              f"the {'API server' if api else 'schema'} accepted")
        return 1
    print(f"crd-property: ok: render accepted all {len(accepted)} tenants the "
          f"{'API server' if api else 'schema'} accepted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
