"""Does a step's SQL survive translation to the target's dialect?

sqlglot raises for constructs it knows a dialect lacks, but it also emits calls the
target does not have without complaint: DuckDB's `list_transform(...)` becomes
`TRANSFORM(...)` for PostgreSQL, which has no such function. So the translated SQL
is checked against the functions the target itself lists (PostgreSQL's pg_proc,
DuckDB's duckdb_functions()), before anything runs, and the first unknown call is
reported at the line of the user's file that wrote it.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlglot
from sqlglot import exp

from toolkit import sql

# Calls that are grammar, not catalog functions: they never appear in pg_proc.
SYNTAX = {
    "cast", "try_cast", "extract", "coalesce", "nullif", "greatest", "least", "case", "row", "array",
    "exists", "interval", "position", "substring", "trim", "overlay", "any", "all", "some", "in",
    "values", "grouping", "collate", "filter", "over", "within", "unnest", "struct", "map", "list",
}
# The functions sqlglot can write (exp.ALL_FUNCTIONS' names) that PostgreSQL 15's pg_proc
# does not list: `compile --target pg` refuses a call sqlglot renamed to one of these
# without a connection, as plan and run do with the live catalog (check_static).
_NOT_ON_POSTGRES = frozenset("""
    a_i_forecast add_months agg ai_agg ai_classify ai_embed ai_generate ai_similarity ai_summarize_agg and
    anonymous_agg_func any_value apply approx_count_distinct approx_distinct approx_percentile_accumulate
    approx_percentile_combine approx_percentile_estimate approx_quantile approx_quantiles approx_top_k
    approx_top_k_accumulate approx_top_k_combine approx_top_k_estimate approx_top_sum approximate_jaccard_index
    approximate_similarity arg_max arg_min argmax argmin array array_all array_any array_compact array_concat
    array_concat_agg array_construct_compact array_contained_by array_contains array_contains_all array_distinct
    array_except array_filter array_first array_has array_has_all array_insert array_intersect array_intersection
    array_join array_last array_max array_min array_overlaps array_remove_at array_reverse array_size array_slice
    array_sort array_sum array_union_agg array_unique_agg arrays_zip base64_decode_binary base64_decode_string
    base64_encode bitmap_bit_position bitmap_bucket_number bitmap_construct_agg bitmap_count bitmap_or_agg
    bitwise_and_agg bitwise_count bitwise_or_agg bitwise_xor_agg booland booland_agg boolnot boolor boolor_agg
    boolxor_agg byte_length case cast cast_to_str_type check_json check_xml city_hash64 coalesce
    code_points_to_bytes code_points_to_string collate collation columns combined_agg_func
    combined_parameterized_agg compress connect_by_root contains convert_timezone convert_to_charset
    cosine_distance coth count_if countif csc csch current_account current_account_name current_available_roles
    current_catalog current_client current_date current_datetime current_ip_address current_organization_name
    current_organization_user current_region current_role current_role_type current_secondary_roles
    current_session current_statement current_time current_timestamp current_timestamp_l_t_z current_timezone
    current_transaction current_user_id current_version current_warehouse date_add date_diff date_from_parts
    date_from_unix_date date_str_to_date date_sub date_to_date_str date_to_di datediff datefromparts datetime
    datetime_add datetime_diff datetime_sub datetime_trunc day day_of_month day_of_week day_of_year dayname
    dayofmonth dayofweek dayofweek_iso dayofyear decode_case decompress_binary decompress_string decrypt
    decrypt_raw di_to_date dot_product dynamic_identifier elt encrypt encrypt_raw ends_with endswith equal_null
    euclidean_distance exists explode explode_outer exploding_generate_series farm_fingerprint farmfingerprint64
    features_at_time filter first flatten float64 from_base from_base32 from_base64 from_iso8601_date
    from_iso8601_timestamp from_iso8601_timestamp_nanos from_json gap_fill generate_bool generate_date_array
    generate_double generate_embedding generate_int generate_table generate_text generate_timestamp_array
    generate_uuid generator get_extract get_ignore_case getbit greatest group_concat grouping grouping_id hash_agg
    hex hex_decode_string hll hour if ifnull iif inline insert int64 is_array is_ascii is_inf is_nan is_null_value
    isinf isnan isodow j_s_o_n_array j_s_o_n_array_agg j_s_o_n_b_contains_all_top_keys
    j_s_o_n_b_contains_any_top_keys j_s_o_n_b_contains_top_key j_s_o_n_b_delete_at_path j_s_o_n_b_object_agg
    j_s_o_n_b_path_exists j_s_o_n_bool j_s_o_n_cast j_s_o_n_exists j_s_o_n_keys_at_depth j_s_o_n_object
    j_s_o_n_object_agg j_s_o_n_table j_s_o_n_value_array jarowinkler_similarity json_array_append
    json_array_contains json_array_insert json_extract json_extract_array json_extract_scalar json_format
    json_keys json_parse json_remove json_set json_type jsonb_extract jsonb_extract_scalar kurtosis last last_day
    last_day_of_month lax_bool lax_float64 lax_int64 lax_string lcase least len levenshtein list localtime
    localtimestamp logical_and logical_or lower_hex m_d5_number_lower64 m_d5_number_upper64 m_l_forecast
    m_l_translate manhattan_distance map map_cat map_contains_key map_delete map_from_entries map_insert map_keys
    map_pick map_size match_against max_by md5_digest median min_by minhash minhash_combine minute month monthname
    months_between nanvl negative net_func next_day next_value_for normal nullif number_to_str nvl nvl2 object_agg
    object_id object_insert object_transform open_j_s_o_n or pad parameterized_agg parse_bignumeric parse_datetime
    parse_ip parse_json parse_numeric parse_time parse_url posexplode posexplode_outer predict previous_day
    quantile quarter rand randn randstr range_bucket range_n read_csv read_parquet reduce reg_domain
    regexp_extract regexp_extract_all regexp_full_match regexp_i_like regexp_split regr_valx regr_valy rint
    rtrimmed_length s_h_a1_digest s_h_a2_digest safe_add safe_convert_bytes_to_string safe_divide safe_func
    safe_multiply safe_negate safe_subtract search search_ip sec sech second secret seq1 seq2 seq4 seq8 sha sha1
    sha2 shuffle signum skewness soundex soundex_p123 space split split_by_string split_to_table st_distance
    st_makepoint st_point stack standard_hash star_map startswith stdev str_position str_to_date str_to_map
    str_to_time str_to_unix string strip_null_value strtok strtok_split_to_table strtok_to_array struct
    struct_extract stuff substring_index systimestamp time_add time_diff time_from_parts time_slice
    time_str_to_date time_str_to_time time_str_to_unix time_sub time_to_str time_to_time_str time_to_unix
    time_trunc timefromparts timestamp_add timestamp_diff timestamp_from_parts timestamp_ltz_from_parts
    timestamp_sub timestamp_trunc timestamp_tz_from_parts timestampdiff timestampfromparts timestampltzfromparts
    timestamptzfromparts to_array to_base32 to_base64 to_binary to_boolean to_code_points to_days to_decfloat
    to_double to_file to_map to_variant transform trim truncate try try_base64_decode_binary
    try_base64_decode_string try_cast try_hex_decode_binary try_hex_decode_string try_to_decfloat ts_or_di_to_di
    ts_or_ds_add ts_or_ds_diff ts_or_ds_to_date ts_or_ds_to_date_str ts_or_ds_to_datetime ts_or_ds_to_time
    ts_or_ds_to_timestamp typeof ucase unhex unicode uniform unix_date unix_micros unix_millis unix_seconds
    unix_to_str unix_to_time unix_to_time_str utc_date utc_time utc_timestamp uuid uuid_string var_map
    variance_pop variance_samp vector_search week week_of_year week_start weekofyear weight_string x_m_l_table
    xmlelement xmlget xor year year_of_week year_of_week_iso yearofweek yearofweekiso zipf
""".split())
_CALL = re.compile(r"^\s*\"?([A-Za-z_][A-Za-z0-9_]*)\"?\s*\(")


class Untranslatable(Exception):
    """`word`: the refused call as the user's SQL names it, or the token of the refused
    expression (the column a refused cast casts), to find a Python step's line by."""

    def __init__(self, message: str, line: int | None, word: str | None = None):
        super().__init__(message)
        self.message, self.line, self.word = message, line, word


def check(tree: exp.Expression, read: str, write: str, known: set[str] | None, source_text: str = "", types=None) -> None:
    """Raise Untranslatable when `tree` (in `read`) cannot run on an engine speaking
    `write` whose functions are `known` (None: only sqlglot's own checks). `types`: what
    its casts cast (compiler.cast_types), for the casts refused by type (meanings.py)."""
    if write != "duckdb":
        for select in tree.find_all(exp.Select):
            star = next((item for item in select.expressions if sql.pattern_star(item)), None)
            if star is not None:  # sqlglot writes it for any dialect; only DuckDB reads it
                raise Untranslatable(f"cannot translate to {write}: {star.sql(read)} (a * filtered by a pattern) "
                                     "is DuckDB's; list the columns", _line_of_pattern(source_text))
    if write == "postgres":
        _check_window_aggregates(tree, read, source_text)
    try:
        text = sql.to_target(tree, read, write, types)
    except sql.SqlError as error:
        raise Untranslatable(error.message, line_of_error(error, source_text), error.token) from None
    if known is None:
        _check_static(tree, text, read, write, source_text)
        return
    for call in _calls(sqlglot.parse_one(text, read=write), write):
        if call not in known and call not in SYNTAX:
            origin = _origin(tree, read, write, call)
            raise Untranslatable(
                f"{origin}(...) has no equivalent on this {write} target: translated to {call.upper()}(...), "
                f"which the engine does not know",
                _line_of_call(source_text, origin) or _line_of_spelling(tree, read, write, call, source_text), origin,
            )


# Functions PostgreSQL's extensions add (fuzzystrmatch, PostGIS, hll): only the live catalog knows
_EXTENSION_FUNCTIONS = {"levenshtein", "soundex", "st_distance", "st_makepoint", "st_point", "hll"}


def _check_static(tree: exp.Expression, text: str, read: str, write: str, source_text: str) -> None:
    """Without the target's catalog (compile): refuse the calls sqlglot writes for PostgreSQL
    that PostgreSQL itself does not have (WEEK_OF_YEAR, TRANSFORM, DAYNAME). A function an
    extension may add, or one sqlglot does not know (the user's own), stays for the live check."""
    if write != "postgres":
        return
    for call in _calls(sqlglot.parse_one(text, read=write), write):
        if call in _NOT_ON_POSTGRES and call not in SYNTAX and call not in _EXTENSION_FUNCTIONS:
            origin = _origin(tree, read, write, call)
            if any(isinstance(node, exp.Anonymous) and node.name.lower() == origin for node in tree.find_all(exp.Func)):
                continue
            raise Untranslatable(f"{origin}(...) is not portable to postgres: translated to {call.upper()}(...), "
                                 "which PostgreSQL does not have",
                                 _line_of_call(source_text, origin) or _line_of_spelling(tree, read, write, call, source_text), origin)


def check_compiled(compiled, step, write: str, types) -> None:
    """ProjectError (exit 2) at the step's line when its SQL cannot run on `write`, checked
    without a connection (compile): what plan and run refuse with the live catalog, where
    that is known from sqlglot's names alone."""
    from toolkit.errors import ProjectError

    text = read_source(compiled.project.root / step.file)
    try:
        check(step.tree, compiled.dialect, write, None, text, types)
        _check_postgres_meanings(compiled, step, write, text)
    except Untranslatable as problem:
        raise ProjectError(problem.message, step.file, _step_line(step, compiled.dialect, text, problem)) from None


# name( ... DISTINCT or ORDER BY ... ) OVER, or name(...) WITHIN GROUP (...) OVER; one level of
# parentheses inside the call.
_WINDOW_AGGREGATE = re.compile(
    r"(?is)\b([a-z_][a-z0-9_]*)\s*\((?=(?:[^()]|\([^()]*\))*?\b(?:distinct|order\s+by)\b)(?:[^()]|\([^()]*\))*\)\s*over\b"
    r"|\b([a-z_][a-z0-9_]*)\s*\((?:[^()]|\([^()]*\))*\)\s*within\s+group\s*\([^()]*\)\s*over\b")


def _check_window_aggregates(tree: exp.Expression, read: str, source_text: str) -> None:
    """PostgreSQL runs an aggregate over a window only plain: `string_agg(x, ',' ORDER BY x)
    OVER ()`, `count(DISTINCT x) OVER (...)` and `percentile_cont(...) WITHIN GROUP (...) OVER`
    translate word for word and fail when built, after other steps have run."""
    for window in tree.find_all(exp.Window):
        function = window.this
        ordered = isinstance(function, exp.WithinGroup) or any(
            isinstance(function.args.get(key), (exp.Order, exp.Distinct)) for key in ("this", "expressions"))
        if not ordered:
            continue
        written = _WINDOW_AGGREGATE.search(source_text)  # as the user spelled it: sqlglot renames (LISTAGG)
        spelled = _CALL.match(function.sql(dialect=read))
        name = written.group(written.lastindex) if written else spelled.group(1) if spelled else function.sql_name()
        raise Untranslatable(
            f"{name.lower()}(...) OVER with DISTINCT, ORDER BY or WITHIN GROUP inside the call cannot run on postgres "
            "(it runs only plain aggregates over a window): aggregate in a subquery and join, or order the window",
            source_text.count("\n", 0, written.start(written.lastindex)) + 1 if written else None)


def _calls(tree: exp.Expression, dialect: str) -> list[str]:
    """Lower-case names of the functions `tree` calls, as `dialect` spells them."""
    names = []
    for node in tree.find_all(exp.Func):
        if isinstance(node, exp.Anonymous):
            names.append(node.name.lower())
            continue
        match = _CALL.match(node.sql(dialect=dialect))
        if match:
            names.append(match.group(1).lower())
    return names


def _origin(tree: exp.Expression, read: str, write: str, call: str) -> str:
    """The name the user wrote for the call that became `call` in the target."""
    for node in tree.find_all(exp.Func):
        if call in _calls(exp.select(node.copy()), write):
            spelled = _CALL.match(node.sql(dialect=read))
            inner = [n for n in node.find_all(exp.Func) if n is not node and call in _calls(exp.select(n.copy()), write)]
            if not inner and spelled:
                return spelled.group(1).lower()
    return call


def _line_of_spelling(tree: exp.Expression, read: str, write: str, call: str, text: str) -> int | None:
    """The line of the call that became `call` when the user spelled it otherwise than
    sqlglot writes it back (string_split(...) is written STR_SPLIT(...)): the first line
    calling any name `read`'s parser reads as the same kind of call."""
    kinds = {type(node) for node in tree.find_all(exp.Func) if call in _calls(exp.select(node.copy()), write)}
    functions = sql.dialect_of(read).parser_class.FUNCTIONS
    names = [name for name, build in functions.items() if getattr(build, "__self__", None) in kinds]
    lines = [line for line in (_line_of_call(text, name) for name in names) if line is not None]
    return min(lines, default=None)


_PATTERN_STAR = re.compile(r"\*\s*(not\s+)?(like|similar\s+to)\b", re.IGNORECASE)


def line_of_error(error, text: str) -> int | None:
    """The line of the user's `text` a translation's SqlError is about (its token: a refused
    call or cast operand), else a line naming a word of its message."""
    if error.token and error.token.startswith("||"):
        return _line_of_pipe(text, error.token[2:]) or _line_of_message(error.message, text)
    line = (_line_of_cast(text, error.token) or _line_of_word(text, error.token)) if error.token else None
    return line or _line_of_message(error.message, text)


def _line_of_pipe(text: str, operand: str) -> int | None:
    """The line of a refused `|| operand` (its DuckDB text, columns unqualified): where that
    text is written (spaces and case aside), else where its first column follows or precedes
    ||, else a line holding both, else the first ||."""
    spelled = r"\s*".join(re.escape(part) for part in re.findall(r"\w+|[^\w\s]", operand))
    name = next(iter(re.findall(r"[A-Za-z_]\w*", re.sub(r"(?i)\b(cast|as|double|float|real)\b", "", operand))), "")
    patterns = [rf"(?i)\|\|[\s(]*{spelled}|{spelled}[\s)]*\|\|"] if spelled else []
    if name:
        patterns += [rf"(?i)\|\|[\s(]*(?:\w+\.)?\"?{name}\b|\b{name}\"?[\s)]*\|\|",
                     rf"(?i)\|\|[^\n]*\b{name}\b|\b{name}\b[^\n]*\|\|"]
    for pattern in [*patterns, r"\|\|"]:
        match = re.search(pattern, text)
        if match:
            return text.count("\n", 0, match.start()) + 1
    return None


def _line_of_pattern(text: str) -> int | None:
    found = _PATTERN_STAR.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else None


def _line_of_call(text: str, name: str) -> int | None:
    match = re.search(rf"(?i)\b{re.escape(name)}\s*\(", text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _line_of_cast(text: str, name: str) -> int | None:
    """The line of cast(name as ...) or name::..., the name qualified or not."""
    name = re.escape(name)
    match = re.search(rf"(?i)\bcast\s*\(\s*(?:\w+\.)?\"?{name}\"?\s+as\b|\b{name}\"?\s*::", text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _line_of_word(text: str, word: str) -> int | None:
    """The first line where `word` (a refused call or keyword, meanings.Refused.token) is written."""
    match = re.search(rf"(?i)\b{re.escape(word)}\b", text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _line_of_message(message: str, text: str) -> int | None:
    words = re.findall(r"[A-Za-z_]{3,}", message)
    for word in words[::-1]:
        line = _line_of_call(text, word)
        if line:
            return line
    return None


def read_source(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def check_step(compiled, engine, step) -> None:
    """ProjectError (exit 2) at the step's file and line when its SQL cannot run on `engine`."""
    from toolkit.errors import ProjectError

    from toolkit.compiler import cast_types

    path = compiled.project.root / step.file
    text = read_source(path)
    try:
        check(step.tree, compiled.dialect, engine.dialect, engine.functions(), text, cast_types(compiled)(step, engine.dialect))
        _check_postgres_meanings(compiled, step, engine.dialect, text)
    except Untranslatable as problem:
        raise ProjectError(problem.message, step.file, _step_line(step, compiled.dialect, text, problem)) from None


def _check_postgres_meanings(compiled, step, write: str, text: str) -> None:
    """Untranslatable when a step written for PostgreSQL computes on DuckDB what DuckDB cannot
    compute as PostgreSQL does (pgdialectmeanings.refuse), typed from the project's declared
    and inferred types."""
    from toolkit import pgdialectmeanings
    from toolkit.compiling.steptypes import typed_inputs
    from toolkit.regexmeanings import Refused

    if compiled.dialect != "postgres" or write != "duckdb" or step.tree is None or not pgdialectmeanings.refusable(step.tree):
        return
    try:
        pgdialectmeanings.refuse(step.tree, typed_inputs(compiled, step, pgdialectmeanings.postgres_typing()))
    except Refused as error:
        raise Untranslatable(str(error), _line_of_word(text, error.token) if error.token else None, error.token) from None


def check_calls(compiled, engine, step) -> None:
    """A step run in its own dialect calls only functions the engine knows: a call neither
    sqlglot nor the engine knows (`proper(s)` on DuckDB) is exit 2 at its line before
    anything runs, not the engine's "Catalog Error" once upstream steps were built."""
    from toolkit.errors import ProjectError

    calls = [node.name.lower() for node in step.tree.find_all(exp.Anonymous) if isinstance(node.this, str)]
    known = engine.functions() if calls else None  # asked only when sqlglot does not know a call
    for name in calls if known is not None else ():
        if name not in known and name not in SYNTAX:
            text = read_source(compiled.project.root / step.file)
            problem = Untranslatable(f"{name}(...) is not a function this {engine.dialect} target knows "
                                     "(not built in, nor a macro in its catalog)", _line_of_call(text, name), name)
            raise ProjectError(problem.message, step.file, _step_line(step, compiled.dialect, text, problem))


def _step_line(step, read: str, text: str, problem: Untranslatable) -> int:
    """The line of the step file a refusal is about. A Python (ibis) step's file names
    neither the SQL calls ibis wrote (`o.tags.sort()` is LIST_SORT) nor casts as SQL does
    (`amount` is first written on another line): its line is that of the output column
    holding the refused expression (`sub=o.tags.sort()`), else the line searched as in SQL."""
    if step.file.endswith(".py") and problem.word and step.tree is not None:
        return _python_line(step.tree, read, text, problem.word) or problem.line or 1
    return problem.line or 1


def _python_line(tree: exp.Expression, read: str, text: str, word: str) -> int | None:
    """The line naming the output column (keyword argument, .name("x") or {"x": ...}) of the
    first call named `word`, else of the first cast of a column named `word`."""
    word = word.lower()
    calls = [node for node in tree.find_all(exp.Func) if (_CALL.match(node.sql(dialect=read)) or [None, ""])[1].lower() == word]
    casts = [node for node in tree.find_all(exp.Cast, exp.TryCast)
             if isinstance(node.this, exp.Column) and node.this.name.lower() == word]
    for node in calls or casts:
        alias = node.find_ancestor(exp.Alias)
        if alias is None or not alias.alias:
            continue
        name = re.escape(alias.alias)
        found = re.search(rf"[(,]\s*{name}\s*=(?!=)|\.name\(\s*['\"]{name}['\"]\s*\)|['\"]{name}['\"]\s*:", text)
        if found:
            return text.count("\n", 0, found.end()) + 1
    return None
