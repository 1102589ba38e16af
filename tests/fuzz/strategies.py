"""Hypothesis strategies: overrides over every config key and group, trace-file contents.

Values are rendered in Hydra's override grammar. For each key's type: right values
(ordinary and extreme), wrong types (text, lists, dicts where a scalar goes, numbers
where text goes), zero, negatives, NaN and infinities, huge integers, empty strings.
"""

from __future__ import annotations

from hypothesis import strategies as st

from tests.fuzz.keys import GROUPS, KEYS, Key

SPECIAL_FLOATS = ["0", "-0.0", "-1", "1e308", "-1e308", "1e-300", "5e-324", "inf", "-inf",
                  "nan", "1e9", "1e-9", "0.5", "1", "2"]
HUGE_INTS = ["99999999999999999999", "-99999999999999999999", "1000000000", "2147483648"]
WRONG = ["abc", "''", "[1,2]", "[]", "{a:1}", "{}", "null", "true", "'  '", "'1;2'",
         "'../x'", "'é'"]

_plain = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=0,
                 max_size=12)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


floats = st.one_of(
    st.sampled_from(SPECIAL_FLOATS),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=1e-3, max_value=1e4).map(repr),
)
ints = st.one_of(
    st.sampled_from(["0", "-1", "1", "2", "3", *HUGE_INTS]),
    st.integers(min_value=-10, max_value=10**6).map(str),
)
texts = st.one_of(_plain, _plain.map(_quoted), st.text(max_size=20).map(_quoted))
wrong = st.sampled_from(WRONG)


def value_for(key: Key) -> st.SearchStrategy[str]:
    """A value for `key`, usually of its type, sometimes of another."""
    if key.kind == "float":
        right = floats
    elif key.kind == "int":
        right = st.one_of(ints, st.sampled_from(["1.5", "1e3"]))
    elif key.kind == "bool":
        right = st.sampled_from(["true", "false", "2", "0", "1", "yes", "'true'"])
    elif key.kind == "list":
        right = st.lists(ints, min_size=0, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]")
    elif key.kind == "dict":
        right = _dicts(key)
    else:
        right = texts
    return st.one_of(right, right, right, wrong, floats, ints)


def _dicts(key: Key) -> st.SearchStrategy[str]:
    if key.path == "failures.components":
        component = st.fixed_dictionaries({
            "scope": st.sampled_from(["gpu", "node", "switch", "rack", "scaleup", "job",
                                      "link", "bogus"]),
            "mtbf_hours": floats,
        }, optional={"category": st.sampled_from(["hardware", "software", "x"]),
                     "repair_hours": floats})
        return st.dictionaries(st.sampled_from(["a", "b", "nic"]), component, max_size=2).map(
            lambda d: "{" + ",".join(
                f"{n}:{{" + ",".join(f"{k}:{v}" for k, v in c.items()) + "}"
                for n, c in d.items()) + "}")
    return st.sampled_from(["{}", "null", "{x:1}"])


def _key_override(key: Key) -> st.SearchStrategy[str]:
    return value_for(key).map(lambda v: f"{key.path}={v}")


group_override = st.one_of(
    *(st.sampled_from([*options, "nosuch"]).map(lambda o, g=group: f"{g}={o}")
      for group, options in GROUPS.items()),
    st.sampled_from(["~cluster", "~failures", "~checkpoint", "+nosuch=1", "nosuch.key=1"]),
)
key_override = st.sampled_from(KEYS).flatmap(_key_override)

#: 1-4 overrides, each on a different key, groups and keys mixed.
overrides = st.lists(st.one_of(key_override, key_override, key_override, group_override),
                     min_size=1, max_size=4,
                     unique_by=lambda o: o.split("=", 1)[0].lstrip("~+"))


# ---- trace files ----------------------------------------------------------------------

COLUMNS = ["time_hours", "kind", "node", "gpu", "repair_hours", "component", "event",
           "replicate"]
KINDS = ["gpu", "node", "switch", "rack", "scaleup", "job", "link", "straggler", "bogus", ""]

_cell_number = st.one_of(st.sampled_from(["0", "-1", "1e308", "nan", "inf", "", "x", "1.5",
                                          "99999999999999999999"]),
                         st.floats(min_value=0, max_value=100).map(repr),
                         st.integers(min_value=0, max_value=140).map(str))
_row = st.fixed_dictionaries({
    "time_hours": _cell_number, "kind": st.sampled_from(KINDS), "node": _cell_number,
    "gpu": _cell_number, "repair_hours": _cell_number,
    "component": st.sampled_from(["", "nic", "x" * 10, "a,b", '"q"']),
    "event": st.sampled_from(["failure", "failure", "recovered", ""]),
    "replicate": st.sampled_from(["0", "0", "1", "", "-1", "x"]),
})
_good_row = st.fixed_dictionaries({
    "time_hours": st.floats(min_value=0, max_value=60).map(repr),
    "kind": st.sampled_from(["gpu", "node", "job", "link", "straggler", "switch", "rack"]),
    "node": st.integers(min_value=0, max_value=127).map(str),
    "gpu": st.integers(min_value=0, max_value=7).map(str),
    "repair_hours": st.sampled_from(["", "0", "1", "24"]),
    "component": st.just(""), "event": st.just("failure"), "replicate": st.just("0"),
})


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


@st.composite
def trace_files(draw) -> bytes:
    """The bytes of a trace file: a header (maybe partial, maybe none), rows good and
    bad, maybe unsorted or duplicated, maybe a huge field, a bad encoding, a BOM or CRLF."""
    columns = draw(st.one_of(
        st.just(COLUMNS[:6]),
        st.permutations(COLUMNS).flatmap(lambda c: st.integers(0, len(c)).map(
            lambda n: c[:n])),
    ))
    rows = draw(st.lists(st.one_of(_good_row, _good_row, _row), max_size=8))
    if rows and draw(st.booleans()):
        rows = [*rows, rows[0]]  # a duplicate row
    if draw(st.booleans()):
        rows = sorted(rows, key=lambda r: r["time_hours"], reverse=True)  # unsorted
    lines = [",".join(columns)] + [",".join(_csv_cell(r.get(c, "")) for c in columns)
                                   for r in rows]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    data = (newline.join(lines) + newline).encode()
    mangle = draw(st.sampled_from(["none", "none", "none", "bom", "latin1", "huge", "nul",
                                   "empty", "truncate"]))
    if mangle == "bom":
        data = b"\xef\xbb\xbf" + data
    elif mangle == "latin1":
        data = data + "1.0,node,3,0,,caf\xe9\n".encode("latin-1")
    elif mangle == "huge":
        data = data + b"1.0,node,3,0,," + b"x" * (200 * 1024) + b"\n"
    elif mangle == "nul":
        data = data.replace(b",", b"\x00,", 1)
    elif mangle == "empty":
        data = b""
    elif mangle == "truncate":
        data = data[:draw(st.integers(0, len(data)))]
    return data
