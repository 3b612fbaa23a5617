/*
 * test_jinja.c -- the chat template interpreter construct by construct:
 * whitespace control, loops, scoping, namespaces, macros, filters, tests,
 * slices, string and dict methods, Python's way of printing values,
 * tojson, undefined values, errors with their exact line and column, the
 * render limits, and lmd_chat_template_load on a model folder.
 *
 * Each expectation is Jinja2 3.1's documented behaviour under the settings
 * transformers uses (trim_blocks and lstrip_blocks on, tojson as
 * json.dumps(ensure_ascii=False)); each case says what it assumes.
 * Templates render with the variables of a small JSON object.
 */

#include "lmd_core.h"

#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "lmd_chat_template.h"
#include "lmd_test.h"

/* The variables most cases use. */
#define VARS                                                                \
    "{\"xs\": [3, 1, 2], \"d\": {\"b\": 2, \"a\": 1}, \"s\": \"Hello "      \
    "World\", \"n\": null, \"f\": 1.5, \"e\": [], \"t\": true, "            \
    "\"u\": \"h\u00e9llo\", "                                               \
    "\"ms\": [{\"role\": \"system\", \"content\": \"S\"}, "                 \
    "{\"role\": \"user\", \"content\": \"Q\"}, "                            \
    "{\"role\": \"assistant\", \"content\": \"A\", \"tool_calls\": "        \
    "[{\"function\": {\"name\": \"f\", \"arguments\": {\"x\": 1}}}]}, "     \
    "{\"role\": \"user\", \"content\": \"Q2\"}]}"


/* Renders tpl with the variables of the JSON object vars (NULL: none):
 * the output, or NULL with err. */
static char *
render(const char *tpl, const char *vars, char *err, size_t errlen)
{
    struct lmd_chat_template  *t;
    struct lmd_chat_vars       v;
    cJSON                     *json;
    char                      *out;
    size_t                     len;

    t = lmd_chat_template_parse(tpl, strlen(tpl), NULL, err, errlen);
    if (t == NULL) {
        return NULL;
    }
    json = vars ? cJSON_Parse(vars) : NULL;
    memset(&v, 0, sizeof(v));
    v.extra = json;
    v.bos_token = "<s>";
    v.eos_token = "</s>";
    out = NULL;
    if (vars != NULL && json == NULL) {
        snprintf(err, errlen, "bad test variables: %s", vars);
    } else if (lmd_chat_template_render(t, &v, &out, &len, err, errlen)
               != LMD_OK)
    {
        out = NULL;
    }
    cJSON_Delete(json);
    lmd_chat_template_free(t);
    return out;
}


static void
expect_at(const char *tpl, const char *vars, const char *want,
    const char *file, int line)
{
    char  err[LMD_ERR_LEN], *out;

    out = render(tpl, vars, err, sizeof(err));
    if (out == NULL) {
        lmd_test_check(0, file, line, "render", "%s\n  template: %s", err,
                       tpl);
        return;
    }
    if (!lmd_test_streq(out, want, file, line)) {
        printf("  template: %s\n", tpl);
    }
    free(out);
}

#define expect(tpl, want)  expect_at((tpl), VARS, (want), __FILE__, __LINE__)


/* The template must fail (parsing or rendering) with exactly want. */
static void
expect_err_at(const char *tpl, const char *want, const char *file,
    int line)
{
    char  err[LMD_ERR_LEN], *out;

    out = render(tpl, VARS, err, sizeof(err));
    if (out != NULL) {
        lmd_test_check(0, file, line, "error", "rendered \"%s\" instead "
                       "of failing with \"%s\"\n  template: %s", out, want,
                       tpl);
        free(out);
        return;
    }
    lmd_test_streq(err, want, file, line);
}

#define expect_err(tpl, want)  expect_err_at((tpl), (want), __FILE__, __LINE__)


/* ------------------------------------------------------------------------
 * Whitespace
 * ------------------------------------------------------------------------ */

/* Assumption: trim_blocks drops the newline after a block tag, and
 * lstrip_blocks the spaces and tabs before one at the start of a line;
 * neither touches {{ }} tags, and one trailing newline of the template is
 * dropped (keep_trailing_newline off). */
LMD_TEST(ws_trim_lstrip)
{
    expect("  {% if true %}\n  x\n  {% endif %}\nend", "  x\nend");
    expect("{% for x in xs %}\n  {{ x }}\n{% endfor %}\n", "  3\n  1\n  2\n");
    expect("{{ 1 }}\n{{ 2 }}\n", "1\n2");
    expect("a\n  {# note #}\nb", "a\nb");
    expect("x\r\n{% if true %}\r\ny\r\n{% endif %}", "x\ny\n");
}


/* Assumption: "-" strips all white space (newlines too) on its side of the
 * tag; "+" keeps what lstrip_blocks (before) or trim_blocks (after) would
 * remove. */
LMD_TEST(ws_markers)
{
    expect("a  {%- if true %} b {% endif -%}  \n c", "a b c");
    expect("a \n {{- 1 -}} \n b", "a1b");
    expect("  {%+ if true %}a{% endif +%}\nb", "  a\nb");
    expect("x {#- c -#} y {# c #}\nz", "xy z");
    expect("{% raw %}{{ x }}{% endraw %}|{%- raw -%}  y  {%- endraw -%}  |",
           "{{ x }}|y|");
}


/* ------------------------------------------------------------------------
 * Statements
 * ------------------------------------------------------------------------ */

/* Assumption: loop.index/index0/revindex/revindex0/first/last/length
 * count the iterations, previtem/nextitem are the neighbours, cycle()
 * alternates, and the else block runs only when nothing was iterated. */
LMD_TEST(for_loop)
{
    expect("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}"
           "{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}"
           "{{ loop.last }}{{ loop.length }};{% endfor %}",
           "1032TrueFalse3;2121FalseFalse3;3210FalseTrue3;");
    expect("{% for x in xs %}{{ loop.previtem }}-{{ loop.nextitem }}"
           "{{ loop.cycle('a', 'b') }};{% endfor %}", "-1a;3-2b;1-a;");
    expect("{% for x in e %}{{ x }}{% else %}empty{% endfor %}", "empty");
    expect("{% for x in xs if x > 1 %}{{ x }}/{{ loop.length }} "
           "{% endfor %}", "3/2 2/2 ");
    expect("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
           "b=2;a=1;");
    expect("{% for k in d %}{{ k }}{% endfor %}{% for c in 'ab' %}"
           "{{ c }}.{% endfor %}", "baa.b.");
    expect("{% for x in xs %}{% if x == 1 %}{% continue %}{% endif %}"
           "{{ x }}{% if x == 3 %}{% break %}{% endif %}{% endfor %}", "3");
    expect("{% for a, (b, c) in [(1, (2, 3))] %}{{ a }}{{ b }}{{ c }}"
           "{% endfor %}", "123");
}


/* Assumption: a set inside a loop body is gone after the loop and each
 * iteration starts from the outer value; a namespace carries values out;
 * "if" opens no scope. */
LMD_TEST(scoping_namespace)
{
    expect("{% set x = 5 %}{% for a in [1, 2] %}{{ x }}{% set x = a %}"
           "{{ x }}{% endfor %}{{ x }}", "51525");
    expect("{% set ns = namespace(total=0, seen='') %}{% for x in xs %}"
           "{% set ns.total = ns.total + x %}{% endfor %}{{ ns.total }}"
           "{{ ns.seen }}|{{ ns }}",
           "6|<Namespace {'total': 6, 'seen': ''}>");
    expect("{% if true %}{% set y = 1 %}{% endif %}{{ y }}", "1");
    expect("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (a,) %}{{ t }}",
           "12(1,)");
    expect("{% set x %} in {{ 1 }} {% endset %}[{{ x }}]{% set y | trim "
           "| upper %} abc {% endset %}[{{ y }}]", "[ in 1 ][ABC]");
    expect("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]",
           "3[]");
    expect_err("{% set n2 = 5 %}{% set n2.x = 1 %}",
               "line 1, column 24: cannot assign attribute on "
               "non-namespace object");
}


/* Assumption: macros take positional and keyword arguments, defaults,
 * missing ones are undefined, they may recurse, and call blocks hand
 * their body to caller(). */
LMD_TEST(macros)
{
    expect("{% macro m(a, b=2) %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }} "
           "{{ m(1, 3) }} {{ m(b=5, a=0) }} [{{ m() }}]",
           "1-2 1-3 0-5 [-2]");
    expect("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}"
           "{% endmacro %}{{ f(3) }}", "321");
    expect("{% macro w(x) %}<{{ caller(x) }}>{% endmacro %}"
           "{% call(y) w(5) %}in{{ y }}{% endcall %}", "<in5>");
    expect("{% filter upper %}hi {{ s }}{% endfilter %}", "HI HELLO WORLD");
    expect("a{% generation %}b{% endgeneration %}c", "abc");
    expect_err("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}",
               "line 1, column 34: macro 'm' takes not more than 1 "
               "argument(s)");
}


/* ------------------------------------------------------------------------
 * Expressions and values
 * ------------------------------------------------------------------------ */

/* Assumption: values print as Python's str(): True/False/None
 * capitalized, lists and dicts with repr() items (quotes chosen like
 * Python), tuples with "(1,)", floats in the shortest round-trip form. */
LMD_TEST(python_printing)
{
    expect("{{ [1, 'a', none, true, 1.5, {'k': (1,)}, (1, 2), ()] }}",
           "[1, 'a', None, True, 1.5, {'k': (1,)}, (1, 2), ()]");
    expect("{{ [\"it's\", 'say \"hi\"', 'a\\nb'] }}",
           "[\"it's\", 'say \"hi\"', 'a\\nb']");
    expect("{{ n }} {{ t }} {{ xs }} {{ d }} {{ e }} {{ u }}",
           "None True [3, 1, 2] {'b': 2, 'a': 1} [] h\xc3\xa9llo");
    expect("{{ 1.0 }} {{ 1e16 }} {{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 10 / 4 }} "
           "{{ 0.0001 }} {{ 2 ** 0.5 }}",
           "1.0 1e+16 0.30000000000000004 1e-05 2.5 0.0001 "
           "1.4142135623730951");
    expect("{{ d.items() }} {{ d.keys() }}",
           "dict_items([('b', 2), ('a', 1)]) dict_keys(['b', 'a'])");
}


/* Assumption: Python's arithmetic: // and % round toward minus infinity,
 * / gives a float, bool counts as int, + joins strings and lists, *
 * repeats; jinja2's quirks: -2**2 is 4 (unary minus binds first) and **
 * is left-associative; and/or return an operand. */
LMD_TEST(operators)
{
    expect("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ -10.5 // 3 }} "
           "{{ 2 ** 10 }} {{ 2 ** -1 }} {{ true + 1 }}",
           "3 -4 -2 -4.0 1024 0.5 2");
    expect("{{ 'ab' * 2 }} {{ [1] + [2] }} {{ 'a' ~ 1 ~ none ~ nothing }}",
           "abab [1, 2] a1None");
    expect("{{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ -1 | abs }}", "4 64 1");
    expect("{{ n or 'x' }} {{ 0 and 1 }} {{ 1 and 'y' }} {{ not n }}",
           "x 0 y True");
    expect("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ (1,) == [1] }}"
           " {{ 'b' > 'a' }} {{ [1, 2] < [1, 3] }}",
           "True False True False True True");
    expect("{{ 'a' in 'abc' }} {{ 9 not in xs }} {{ 'a' in d }} "
           "{{ x is not defined }} {{ 'y' if n else 'z' }} [{{ 'w' if n }}]",
           "True True True True z []");
    expect("{{ {1: 'a', true: 'b'} }} {{ 0x1F }} {{ 0b101 }} {{ 1_000 }} "
           "{{ 'a' 'b' }} {{ '\\x41\\u00e9' }}",
           "{1: 'b'} 31 5 1000 ab A\xc3\xa9");
}


/* Assumption: x[i] takes negative indexes, a missing index or key is
 * undefined (prints as nothing), and slices follow Python, counting code
 * points in strings. */
LMD_TEST(subscripts_slices)
{
    expect("{{ xs[0] }} {{ xs[-1] }} {{ xs[1:] }} {{ xs[::-1] }} "
           "{{ xs[:-1] }} [{{ xs[10] }}] [{{ d['z'] }}]",
           "3 2 [1, 2] [2, 1, 3] [3, 1] [] []");
    expect("{{ s[1:4] }} {{ s[::-2] }} {{ u[1] }} {{ u[1:3] }} "
           "{{ u | length }} {{ u[::-1] }}",
           "ell drWolH \xc3\xa9 \xc3\xa9l 5 oll\xc3\xa9h");
    expect("{{ ms[0].role }} {{ ms[0]['content'] }} "
           "{{ ms[2].tool_calls[0].function.name }} {{ ms[-1].content }}",
           "system S f Q2");
}


/* Assumption: undefined prints as nothing, is false, iterates as empty
 * and has length 0; a missing attribute of a dict is undefined, but any
 * attribute of an undefined value, and arithmetic on it, is an error. */
LMD_TEST(undefined_values)
{
    expect("[{{ nothing }}] {{ nothing is defined }} "
           "{{ ms[1].tool_calls is defined }} {{ ms[2].tool_calls is "
           "defined }} {{ nothing | length }} {{ nothing | default('d') }}",
           "[] False False True 0 d");
    expect("{% for x in nothing %}x{% endfor %}{{ 'a' in nothing }}",
           "False");
    expect_err("{{ nothing.attr }}",
               "line 1, column 11: 'nothing' is undefined");
    expect_err("{{\n  ms[0].nope.deeper }}",
               "line 2, column 13: 'dict object' has no attribute 'nope'");
    expect_err("{{ nothing + 1 }}",
               "line 1, column 12: 'nothing' is undefined");
}


/* ------------------------------------------------------------------------
 * Filters, tests, methods
 * ------------------------------------------------------------------------ */

/* Assumption: jinja2's string filters work on str(value); default()
 * replaces only undefined unless its boolean argument is true. */
LMD_TEST(filters_strings)
{
    expect("[{{ '  x \\n'|trim }}] [{{ 'xxaxx'|trim('x') }}] {{ s|upper }} "
           "{{ s|lower }} {{ 'hello-world foo'|title }} "
           "{{ 'hELLO wORLD'|capitalize }}",
           "[x] [a] HELLO WORLD hello world Hello-World Foo Hello world");
    expect("{{ s|replace('o', '0') }} {{ s|replace('o', '0', 1) }} "
           "{{ 5|string }} {{ none|string }} {{ s|length }} {{ s|count }}",
           "Hell0 W0rld Hell0 World 5 None 11 11");
    expect("{{ n|default('d') }} {{ nothing|default('d') }} "
           "{{ ''|default('d', true) }} {{ 0|d('z', boolean=true) }}",
           "None d d z");
    expect("{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}",
           "a\n    b\n\n    c|  a\n  b");
    expect("{{ '<a href=\"x\">&</a>'|e }}",
           "&lt;a href=&#34;x&#34;&gt;&amp;&lt;/a&gt;");
}


/* Assumption: |int and |float parse Python's way ("42.7"|int is 42) and
 * fall back to their default; round() rounds half to even on the exact
 * binary value and ceil/floor give floats. */
LMD_TEST(filters_numbers)
{
    expect("{{ '42'|int }} {{ '42.7'|int }} {{ 'x'|int }} {{ 'x'|int(5) }}"
           " {{ '0x1A'|int(0, 16) }} {{ 3.9|int }} {{ '3.5'|float }} "
           "{{ 'a'|float }} {{ true|int }}",
           "42 42 0 5 26 3 3.5 0.0 1");
    expect("{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} "
           "{{ 2.1|round(0, 'ceil') }} {{ 7|round }} {{ 25|round(-1) }} "
           "{{ -3|abs }} {{ -2.5|abs }}",
           "2.0 4.0 2.67 3.0 7 20 3 2.5");
}


/* Assumption: the sequence filters of jinja2: first/last, list, join,
 * sort (case-insensitive by default, stable, by attribute), unique, min,
 * max, sum, dictsort, reverse, map, select/reject and their attr forms. */
LMD_TEST(filters_sequences)
{
    expect("{{ xs|first }} {{ xs|last }} [{{ e|first }}] {{ 'abc'|list }} "
           "{{ d|list }} {{ xs|join(', ') }} {{ xs|join }}",
           "3 2 [] ['a', 'b', 'c'] ['b', 'a'] 3, 1, 2 312");
    expect("{{ xs|sort }} {{ xs|sort(reverse=true) }} "
           "{{ ['b', 'A', 'a']|sort }} {{ ['b', 'A', 'a']|sort("
           "case_sensitive=true) }} {{ xs|reverse|list }} {{ 'abc'|reverse }}",
           "[1, 2, 3] [3, 2, 1] ['A', 'a', 'b'] ['A', 'a', 'b'] [2, 1, 3] "
           "cba");
    expect("{{ [1, 2, 2, 3, 1]|unique|list }} {{ ['a', 'A']|unique|list }} "
           "{{ xs|min }} {{ xs|max }} {{ xs|sum }} {{ d|dictsort }} "
           "{{ d|items|list }}",
           "[1, 2, 3] ['a'] 1 3 6 [('a', 1), ('b', 2)] "
           "[('b', 2), ('a', 1)]");
    expect("{{ ms|map(attribute='role')|join(',') }} "
           "{{ ms|selectattr('role', 'equalto', 'user')|map(attribute="
           "'content')|list }} {{ ms|rejectattr('role', 'eq', 'user')"
           "|list|length }} {{ ms|selectattr('tool_calls')|list|length }}",
           "system,user,assistant,user ['Q', 'Q2'] 2 1");
    expect("{{ xs|map('string')|join('-') }} {{ ['a', 'b']|map('upper')"
           "|list }} {{ xs|select('odd')|list }} {{ xs|reject('odd')|list }}"
           " {{ [0, 1, '', none, 'a']|select|list }} "
           "{{ ms|map(attribute='x', default='z')|first }}",
           "3-1-2 ['A', 'B'] [3, 1] [2] [1, 'a'] z");
}


/* Assumption: tojson is json.dumps(ensure_ascii=False): ", " and ": "
 * separators, non-ASCII kept, \u escapes only for controls; indent=N puts
 * each item on its own line with "," alone; the first positional
 * argument is ensure_ascii, as in transformers' signature. */
LMD_TEST(filters_tojson)
{
    expect("{{ {'a': '\u00e9', 'b': [1, 2.5, none, true, {}], 'c': "
           "'q\"\\\\\\n\\t'}|tojson }}",
           "{\"a\": \"\xc3\xa9\", \"b\": [1, 2.5, null, true, {}], "
           "\"c\": \"q\\\"\\\\\\n\\t\"}");
    expect("{{ {'a': [1, {'b': []}]}|tojson(indent=2) }}",
           "{\n  \"a\": [\n    1,\n    {\n      \"b\": []\n    }\n  ]\n}");
    expect("{{ {'k': '\u00e9\xf0\x9f\x98\x80'}|tojson(2) }} "
           "{{ d|tojson(sort_keys=true) }} "
           "{{ d|tojson(separators=(',', ':')) }} {{ (1, 'x')|tojson }}",
           "{\"k\": \"\\u00e9\\ud83d\\ude00\"} {\"a\": 1, \"b\": 2} "
           "{\"b\":2,\"a\":1} [1, \"x\"]");
    expect("{{ ms[2].tool_calls[0].function.arguments|tojson }}",
           "{\"x\": 1}");
}


/* Assumption: jinja2's tests, with Python's types: bool is a number but
 * not an integer, a dict is a sequence, and "is" takes one argument
 * without parentheses. */
LMD_TEST(tests)
{
    expect("{{ n is none }} {{ 1 is number }} {{ t is number }} "
           "{{ t is integer }} {{ 1.0 is float }} {{ s is string }} "
           "{{ d is mapping }} {{ xs is iterable }} {{ d is sequence }} "
           "{{ t is boolean }} {{ t is true }} {{ false is false }}",
           "True True True False True True True True True True True True");
    expect("{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} "
           "{{ 1 is in xs }} {{ 1 is equalto 1 }} {{ 2 is gt 1 }} "
           "{{ 'ab' is lower }} {{ nothing is undefined }} "
           "{{ s is not string }}",
           "True True True True True True True True False");
}


/* Assumption: the str methods Python has, on code points; dict.get()
 * defaults to None; mutating methods are hidden by the sandbox
 * (undefined), as in transformers. */
LMD_TEST(methods)
{
    expect("[{{ '  x  '.strip() }}] [{{ ' x '.lstrip() }}] "
           "[{{ 'xx'.rstrip('x') }}] {{ s.startswith('He') }} "
           "{{ s.endswith(('x', 'ld')) }} {{ s.split() }} "
           "{{ 'a,b,,c'.split(',') }} {{ 'a b c'.rsplit(' ', 1) }}",
           "[x] [x ] [] True True ['Hello', 'World'] ['a', 'b', '', 'c'] "
           "['a b', 'c']");
    expect("{{ s.upper() }} {{ 'hello wORLD'.title() }} "
           "{{ s.replace('l', 'L') }} {{ s.find('o') }} {{ s.rfind('o') }} "
           "{{ s.count('l') }} {{ '-'.join(['a', 'b']) }} "
           "{{ '{} and {}'.format(1, 'x') }} {{ '{0}{1}{0}'.format('a', "
           "'b') }}",
           "HELLO WORLD Hello World HeLLo WorLd 4 7 3 a-b 1 and x aba");
    expect("{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 9) }} "
           "{{ d.keys()|list }} {{ d.values()|list }} "
           "{{ xs.append is defined }} {{ d.update is defined }}",
           "1 None 9 ['b', 'a'] [2, 1] False False");
    expect_err("{{ xs.append(4) }}", "line 1, column 6: access to a "
               "mutating method is unsafe: the sandbox of transformers "
               "refuses it");
}


/* Assumption: range() gives a list-like of ints (limited to 100000 items
 * as in jinja2's sandbox), dict() and namespace() take keywords,
 * strftime_now() formats the local time. */
LMD_TEST(globals)
{
    char        year[8], tpl[64];
    time_t      now;
    struct tm   tm;

    expect("{{ range(3)|list }} {{ range(1, 10, 3)|list }} "
           "{{ range(5, 0, -2)|list }} {{ dict(a=1, b=[2]) }}",
           "[0, 1, 2] [1, 4, 7] [5, 3, 1] {'a': 1, 'b': [2]}");
    now = time(NULL);
    localtime_r(&now, &tm);
    strftime(year, sizeof(year), "%Y", &tm);
    snprintf(tpl, sizeof(tpl), "{{ strftime_now('%%Y') }}");
    /* (the year could change between the two reads only at midnight on
     * New Year's Eve) */
    expect(tpl, year);
    expect_err("{{ range(200000)|length }}",
               "line 1, column 4: Range too big. The sandbox blocks ranges "
               "larger than MAX_RANGE (100000).");
}


/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

/* Assumption: raise_exception(msg) ends the render with msg, positioned
 * at the call (transformers raises TemplateError(msg)). */
LMD_TEST(raise_exception)
{
    expect_err("{% for m in ms %}\n{% if m.role == 'assistant' %}"
               "{{ raise_exception('Roles must alternate: ' ~ loop.index) }}"
               "{% endif %}{% endfor %}",
               "line 2, column 34: Roles must alternate: 3");
}


/* Assumption: every construct outside the subset, and every syntax
 * mistake, is an error naming the line and column (1-based, in
 * characters) of the token at fault; unknown filters and tests fail at
 * parse time even in branches that never run, as jinja2's compiler
 * does. */
LMD_TEST(errors_positions)
{
    expect_err("ab\n  {% nosuch x %}", "line 2, column 6: unknown tag "
               "'nosuch'");
    expect_err("{% if true %}\n{% for x in xs %}x{% endfor %}",
               "line 1, column 4: unclosed 'if': no 'endif' before the end "
               "of the template");
    expect_err("{% if false %}{{ x | frobnicate }}{% endif %}",
               "line 1, column 22: unknown filter 'frobnicate'");
    expect_err("{{ x is frobnicated }}",
               "line 1, column 9: unknown test 'frobnicated'");
    expect_err("{{ 1 + }}", "line 1, column 8: unexpected '}}'");
    expect_err("{% for x in xs %}{% endif %}",
               "line 1, column 21: unexpected 'endif'");
    expect_err("{{ x|batch(2) }}",
               "line 1, column 6: the filter 'batch' is not supported");
    expect_err("{% include 'x' %}",
               "line 1, column 4: the tag 'include' is not supported");
    expect_err("\xc3\xa9\xc3\xa9{{ 'a' + 1 }}", "line 1, column 10: can only "
               "concatenate str (not \"int\") to str");
    expect_err("{{ 'abc }}", "line 1, column 4: unterminated string");
    expect_err("{# never closed", "line 1, column 1: the comment is never "
               "closed (no '#}')");
    expect_err("{% break %}", "line 1, column 4: 'break' outside a loop");
}


/* Assumption: runaway templates stop with a clear message: more than a
 * million loop iterations, deeply recursive macros, output or strings
 * past 64 MiB. */
LMD_TEST(limits)
{
    expect_err("{% for i in range(100000) %}{% for j in range(100000) %}"
               "{% endfor %}{% endfor %}",
               "line 1, column 32: more than 1000000 loop iterations in one "
               "render");
    expect_err("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
               "line 1, column 19: macro calls nested deeper than 64");
    expect_err("{{ 'x' * 100000000 }}",
               "line 1, column 8: a string would exceed 64 MiB");
    expect_err("{% for i in range(70000) %}{{ 'x' * 1000 }}{% endfor %}",
               "line 1, column 35: the output would exceed 64 MiB");
}


/* ------------------------------------------------------------------------
 * The API around templates
 * ------------------------------------------------------------------------ */

static void
write_file(const char *dir, const char *name, const char *text)
{
    char   path[512];
    FILE  *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "w");
    if (fp != NULL) {
        fputs(text, fp);
        fclose(fp);
    }
}


static char *
render_loaded(const struct lmd_chat_template *t, const char *bos,
    int agp)
{
    struct lmd_chat_vars   v;
    cJSON                 *msgs;
    char                  *out, err[LMD_ERR_LEN];
    size_t                 len;

    msgs = cJSON_Parse("[{\"role\": \"user\", \"content\": \"hi\"}]");
    memset(&v, 0, sizeof(v));
    v.messages = msgs;
    v.bos_token = bos;
    v.add_generation_prompt = agp;
    if (lmd_chat_template_render(t, &v, &out, &len, err, sizeof(err))
        != LMD_OK)
    {
        out = NULL;
    }
    cJSON_Delete(msgs);
    return out;
}


/* Assumption: lmd_chat_template_load finds the template the way
 * transformers does: chat_template.jinja first, else the config's
 * chat_template (a string, or the "default" of a named list), else the
 * fallback; bos_token may be {"content": ...}; without any template and
 * without a fallback it is an error. */
LMD_TEST(load_model_folder)
{
    struct lmd_chat_template  *t;
    char                       dir[] = "/tmp/lmd_test_jinja.XXXXXX";
    char                       err[LMD_ERR_LEN], path[512], *bos, *eos;
    char                      *out;

    if (mkdtemp(dir) == NULL) {
        fail_unless(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    write_file(dir, "tokenizer_config.json",
               "{\"bos_token\": {\"content\": \"<B>\", \"lstrip\": false}, "
               "\"eos_token\": \"<E>\", \"chat_template\": [{\"name\": "
               "\"tool_use\", \"template\": \"T\"}, {\"name\": \"default\", "
               "\"template\": \"{{ bos_token }}D{{ messages[0].content }}\"}"
               "]}");
    t = lmd_chat_template_load(dir, NULL, &bos, &eos, err, sizeof(err));
    fail_unless(t != NULL, "%s", err);
    fail_unless_streq(bos, "<B>");
    fail_unless_streq(eos, "<E>");
    if (t != NULL) {
        out = render_loaded(t, bos, 0);
        fail_unless_streq(out, "<B>Dhi");
        free(out);
        lmd_chat_template_free(t);
    }
    free(bos);
    free(eos);

    write_file(dir, "chat_template.jinja", "J{{ messages|length }}\n");
    t = lmd_chat_template_load(dir, NULL, NULL, NULL, err, sizeof(err));
    fail_unless(t != NULL, "%s", err);
    if (t != NULL) {
        out = render_loaded(t, NULL, 0);
        fail_unless_streq(out, "J1");
        free(out);
        lmd_chat_template_free(t);
    }

    snprintf(path, sizeof(path), "%s/chat_template.jinja", dir);
    unlink(path);
    write_file(dir, "tokenizer_config.json", "{\"eos_token\": null}");
    t = lmd_chat_template_load(dir, NULL, NULL, NULL, err, sizeof(err));
    fail_unless(t == NULL, "loaded a template that is not there");
    fail_unless(strstr(err, "has no chat template") != NULL, "%s", err);
    lmd_chat_template_free(t);

    t = lmd_chat_template_load(dir, lmd_chat_template_default, NULL, NULL,
                               err, sizeof(err));
    fail_unless(t != NULL, "%s", err);
    if (t != NULL) {
        out = render_loaded(t, NULL, 1);
        fail_unless_streq(out, "<|im_start|>user\nhi<|im_end|>\n"
                               "<|im_start|>assistant\n");
        free(out);
        lmd_chat_template_free(t);
    }

    write_file(dir, "tokenizer_config.json", "{\"chat_template\": "
               "\"{% if %}\"}");
    t = lmd_chat_template_load(dir, NULL, NULL, NULL, err, sizeof(err));
    fail_unless(t == NULL && strstr(err, "tokenizer_config.json: line 1, "
                                    "column 7: expected an expression")
                             != NULL, "%s", err);
    lmd_chat_template_free(t);

    snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
    unlink(path);
    rmdir(dir);
}


/* Assumption: a parsed template is immutable, so one template renders the
 * same text every time, also after a render that failed. */
LMD_TEST(reuse_after_error)
{
    struct lmd_chat_template  *t;
    struct lmd_chat_vars       v;
    cJSON                     *ok, *bad;
    char                      *out, err[LMD_ERR_LEN];
    const char                *src;
    size_t                     len;
    int                        i;

    src = "{% set ns = namespace(n=0) %}{% for m in messages %}"
          "{% set ns.n = ns.n + 1 %}{{ m.content + '.' }}{% endfor %}"
          "{{ ns.n }}";
    t = lmd_chat_template_parse(src, strlen(src), "t", err, sizeof(err));
    if (!fail_unless(t != NULL, "%s", err)) {
        return;
    }
    ok = cJSON_Parse("[{\"content\": \"a\"}, {\"content\": \"b\"}]");
    bad = cJSON_Parse("[{\"content\": 1}]");
    memset(&v, 0, sizeof(v));
    for (i = 0; i < 3; i++) {
        v.messages = bad;
        fail_unless(lmd_chat_template_render(t, &v, &out, &len, err,
                                             sizeof(err)) == LMD_ERROR,
                    "int + str rendered");
        fail_unless_streq(err, "line 1, column 91: unsupported operand "
                               "type(s) for +: 'int' and 'str'");
        v.messages = ok;
        if (fail_unless(lmd_chat_template_render(t, &v, &out, &len, err,
                                                 sizeof(err)) == LMD_OK,
                        "%s", err))
        {
            fail_unless_streq(out, "a.b.2");
            fail_unless(len == 5, "len %zu", len);
            free(out);
        }
    }
    cJSON_Delete(ok);
    cJSON_Delete(bad);
    lmd_chat_template_free(t);
}
