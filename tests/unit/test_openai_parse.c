/*
 * test_openai_parse.c -- unit tests for daemon/lmd_openai_parse.c, the
 * reading of /v1/chat/completions and /v1/completions bodies.
 *
 * Expectations come from OpenAI's API reference (names, ranges, defaults,
 * the "value is less than the minimum of N - 'param'" wording) and from
 * vLLM for its extensions (top_k -1, repetition_penalty > 0).  Bodies are
 * written with single quotes for readability and turned into JSON by
 * body(); none of them needs a quote inside a string.  Every case parses
 * in a pool of its own, destroyed at its end.
 */

#include "lmd_core.h"

#include <math.h>

#include "lmd_openai.h"
#include "lmd_test.h"


/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

struct parsed {
    struct lmd_pool         *pool;
    struct lmd_oai_request   req;
    struct lmd_oai_error     e;
    int                      rc;
};


/* Turns 'x' into "x" (a test body holds no quote inside strings). */
static char *
body(const char *s)
{
    static char  buf[16384];
    size_t       i;

    for (i = 0; s[i] != '\0' && i < sizeof(buf) - 1; i++) {
        buf[i] = s[i] == '\'' ? '"' : s[i];
    }
    buf[i] = '\0';
    return buf;
}


static int
parse(struct parsed *p, int kind, const char *text)
{
    const char  *json = body(text);

    p->pool = lmd_pool_create(0);
    p->rc = lmd_openai_parse(p->pool, kind, json, strlen(json), &p->req,
                             &p->e);
    return p->rc;
}


static void
done(struct parsed *p)
{
    lmd_pool_destroy(p->pool);
}


/* Parses expecting success; shows the refusal otherwise. */
static int
parse_ok_at(struct parsed *p, int kind, const char *text, const char *file,
    int line)
{
    parse(p, kind, text);
    return lmd_test_check(p->rc == LMD_OK, file, line, "rc == LMD_OK",
                          "refused (%s): %s\n  body: %s",
                          p->e.param ? p->e.param : "no param",
                          p->e.message, text);
}

#define parse_ok(p, kind, text)                                               \
    parse_ok_at((p), (kind), (text), __FILE__, __LINE__)


/* Parses expecting a 400 naming param (NULL: the body itself) and, when
 * message is not NULL, exactly that message. */
static void
refused_at(int kind, const char *text, const char *param,
    const char *message, const char *file, int line)
{
    struct parsed  p;

    parse(&p, kind, text);
    if (lmd_test_check(p.rc == LMD_ERROR, file, line, "rc == LMD_ERROR",
                       "accepted: %s", text))
    {
        lmd_test_check(p.e.status == 400, file, line, "status == 400",
                       "status %d for %s", p.e.status, text);
        lmd_test_check(p.e.message[0] != '\0', file, line, "message",
                       "no message for %s", text);
        if (!lmd_test_streq(p.e.param, param, file, line)) {
            printf("  body: %s\n  message: %s\n", text, p.e.message);
        }
        if (message != NULL) {
            lmd_test_streq(p.e.message, message, file, line);
        }
    }
    done(&p);
}

#define refused(kind, text, param)                                            \
    refused_at((kind), (text), (param), NULL, __FILE__, __LINE__)
#define refused_msg(kind, text, param, message)                               \
    refused_at((kind), (text), (param), (message), __FILE__, __LINE__)

#define CHAT        LMD_OAI_CHAT
#define COMP        LMD_OAI_COMPLETION

/* The smallest valid bodies, to append a field to: CHAT_WITH("'n':0"). */
#define CHAT_WITH(f)                                                          \
    "{'model':'m','messages':[{'role':'user','content':'hi'}]," f "}"
#define COMP_WITH(f)    "{'model':'m','prompt':'hi'," f "}"


static int
close_to(float got, double want)
{
    return fabs((double) got - want) < 1e-6;
}


/* ------------------------------------------------------------------------
 * Valid bodies
 * ------------------------------------------------------------------------ */

/* Assumption: every field of a full chat body lands where lmd_openai.h
 * says; developer is stored as system, text parts join with no separator,
 * assistant content null is "", "" stops are dropped, fields lmd ignores
 * (parallel_tool_calls, metadata, store, unknown ones) do no harm. */
LMD_TEST(chat_full_body)
{
    struct parsed                 p;
    const struct lmd_oai_request *r = &p.req;
    const struct lmd_sampling    *s = &p.req.sampling;

    if (!parse_ok(&p, CHAT,
        "{'model':'stories260K','messages':["
        "{'role':'developer','content':'be brief'},"
        "{'role':'user','content':[{'type':'text','text':'Once '},"
        "{'type':'text','text':'upon'}],'name':'ann'},"
        "{'role':'assistant','content':null,'tool_calls':[]},"
        "{'role':'tool','content':'42','tool_call_id':'c1'}],"
        "'stream':true,'stream_options':{'include_usage':true,"
        "'continuous_usage_stats':false},"
        "'max_completion_tokens':64,'temperature':0.5,'top_p':0.9,"
        "'top_k':40,'min_p':0.05,'presence_penalty':0.5,"
        "'frequency_penalty':-0.5,'repetition_penalty':1.1,'seed':-7,"
        "'n':3,'logit_bias':{'5':-100,'17':2.5},'logprobs':true,"
        "'top_logprobs':4,'stop':['\\n\\n','','END'],'user':'u1',"
        "'ignore_eos':true,'tools':[],'parallel_tool_calls':false,"
        "'response_format':{'type':'text'},'tool_choice':'none',"
        "'modalities':['text'],'metadata':{'k':'v'},'store':false,"
        "'unknown_field':[1,{'a':2}]}"))
    {
        done(&p);
        return;
    }
    fail_unless(r->kind == LMD_OAI_CHAT, "kind %d", r->kind);
    fail_unless_streq(r->model, "stories260K");
    fail_unless(r->n_messages == 4, "%zu messages", r->n_messages);
    if (r->n_messages == 4) {
        fail_unless_streq(r->messages[0].role, "system");
        fail_unless_streq(r->messages[0].content, "be brief");
        fail_unless(r->messages[0].name == NULL, "name set");
        fail_unless_streq(r->messages[1].role, "user");
        fail_unless_streq(r->messages[1].content, "Once upon");
        fail_unless_streq(r->messages[1].name, "ann");
        fail_unless_streq(r->messages[2].role, "assistant");
        fail_unless_streq(r->messages[2].content, "");
        fail_unless_streq(r->messages[3].role, "tool");
        fail_unless_streq(r->messages[3].content, "42");
    }
    fail_unless(r->prompt == NULL && r->prompt_ids == NULL, "prompt set");
    fail_unless(r->stream == 1 && r->include_usage == 1, "stream %d %d",
                r->stream, r->include_usage);
    fail_unless(r->max_tokens == 64, "max_tokens %u", r->max_tokens);
    fail_unless(r->n == 3, "n %u", r->n);
    fail_unless(close_to(s->temperature, 0.5), "temperature %g",
                s->temperature);
    fail_unless(close_to(s->top_p, 0.9f), "top_p %g", s->top_p);
    fail_unless(s->top_k == 40, "top_k %d", s->top_k);
    fail_unless(close_to(s->min_p, 0.05f), "min_p %g", s->min_p);
    fail_unless(close_to(s->presence_penalty, 0.5), "presence %g",
                s->presence_penalty);
    fail_unless(close_to(s->frequency_penalty, -0.5), "frequency %g",
                s->frequency_penalty);
    fail_unless(close_to(s->repetition_penalty, 1.1f), "repetition %g",
                s->repetition_penalty);
    fail_unless(s->has_seed && s->seed == (uint64_t) -7, "seed %llu",
                (unsigned long long) s->seed);
    fail_unless(s->n_logit_bias == 2, "%zu biases", s->n_logit_bias);
    if (s->n_logit_bias == 2) {
        fail_unless(s->logit_bias[0].id == 5
                    && close_to(s->logit_bias[0].bias, -100), "bias 0: %d %g",
                    s->logit_bias[0].id, s->logit_bias[0].bias);
        fail_unless(s->logit_bias[1].id == 17
                    && close_to(s->logit_bias[1].bias, 2.5), "bias 1: %d %g",
                    s->logit_bias[1].id, s->logit_bias[1].bias);
    }
    fail_unless(r->logprobs == 1 && s->top_logprobs == 4, "logprobs %d %d",
                r->logprobs, s->top_logprobs);
    fail_unless(r->n_stop == 2, "%zu stops", r->n_stop);
    if (r->n_stop == 2) {
        fail_unless_streq(r->stop[0], "\n\n");
        fail_unless_streq(r->stop[1], "END");
    }
    fail_unless_streq(r->user, "u1");
    fail_unless(r->ignore_eos == 1, "ignore_eos %d", r->ignore_eos);
    fail_unless(r->has == (LMD_OAI_HAS_TEMPERATURE | LMD_OAI_HAS_TOP_P
                           | LMD_OAI_HAS_TOP_K | LMD_OAI_HAS_REPETITION
                           | LMD_OAI_HAS_MAX_TOKENS | LMD_OAI_HAS_SEED),
                "has 0x%x", r->has);
    done(&p);
}


/* Assumption: a full completions body likewise; logprobs N turns logprobs
 * on with N alternatives, top_k -1 is off, best_of equal to n is fine,
 * a repeated logit_bias key keeps its last value, chat-only fields
 * (max_completion_tokens) are unknown here and ignored. */
LMD_TEST(completion_full_body)
{
    struct parsed                 p;
    const struct lmd_oai_request *r = &p.req;
    const struct lmd_sampling    *s = &p.req.sampling;

    if (!parse_ok(&p, COMP,
        "{'model':'m2','prompt':[[1,2,3]],'echo':true,'suffix':null,"
        "'best_of':2,'n':2,'max_tokens':16,'max_completion_tokens':99,"
        "'stream':false,'logprobs':3,'temperature':0,'top_k':-1,"
        "'seed':12345678901,'stop':'\\n','user':null,"
        "'logit_bias':{'7':1,'8':0,'7':-1},'frequency_penalty':2,"
        "'presence_penalty':-2,'min_p':1,'ignore_eos':false}"))
    {
        done(&p);
        return;
    }
    fail_unless(r->kind == LMD_OAI_COMPLETION, "kind %d", r->kind);
    fail_unless_streq(r->model, "m2");
    fail_unless(r->messages == NULL && r->n_messages == 0, "messages");
    fail_unless(r->prompt == NULL, "prompt text set");
    fail_unless(r->n_prompt_ids == 3 && r->prompt_ids != NULL
                && r->prompt_ids[0] == 1 && r->prompt_ids[2] == 3,
                "%zu ids", r->n_prompt_ids);
    fail_unless(r->echo == 1, "echo %d", r->echo);
    fail_unless(r->n == 2, "n %u", r->n);
    fail_unless(r->max_tokens == 16, "max_tokens %u", r->max_tokens);
    fail_unless(r->stream == 0 && r->include_usage == 0, "stream");
    fail_unless(r->logprobs == 1 && s->top_logprobs == 3, "logprobs %d %d",
                r->logprobs, s->top_logprobs);
    fail_unless(s->temperature == 0.0f, "temperature %g", s->temperature);
    fail_unless(s->top_k == 0, "top_k %d", s->top_k);
    fail_unless(s->has_seed && s->seed == 12345678901ULL, "seed %llu",
                (unsigned long long) s->seed);
    fail_unless(r->n_stop == 1, "%zu stops", r->n_stop);
    fail_unless_streq(r->stop[0], "\n");
    fail_unless(r->user == NULL, "user set");
    fail_unless(s->n_logit_bias == 2, "%zu biases", s->n_logit_bias);
    if (s->n_logit_bias == 2) {
        fail_unless(s->logit_bias[0].id == 7
                    && close_to(s->logit_bias[0].bias, -1), "bias 7: %g",
                    s->logit_bias[0].bias);
        fail_unless(s->logit_bias[1].id == 8, "bias 1 id %d",
                    s->logit_bias[1].id);
    }
    fail_unless(close_to(s->frequency_penalty, 2)
                && close_to(s->presence_penalty, -2)
                && close_to(s->min_p, 1), "penalties at their limits");
    fail_unless(r->ignore_eos == 0, "ignore_eos");
    fail_unless(r->has == (LMD_OAI_HAS_TEMPERATURE | LMD_OAI_HAS_TOP_K
                           | LMD_OAI_HAS_MAX_TOKENS | LMD_OAI_HAS_SEED),
                "has 0x%x", r->has);
    done(&p);
}


static void
check_defaults(const struct parsed *p, int kind)
{
    const struct lmd_oai_request *r = &p->req;
    const struct lmd_sampling    *s = &p->req.sampling;

    fail_unless(r->kind == kind, "kind %d", r->kind);
    fail_unless(r->has == 0, "has 0x%x", r->has);
    fail_unless(r->n == 1, "n %u", r->n);
    fail_unless(r->max_tokens == 0, "max_tokens %u", r->max_tokens);
    fail_unless(!r->stream && !r->include_usage && !r->echo, "flags");
    fail_unless(!r->logprobs && s->top_logprobs == 0, "logprobs");
    fail_unless(r->n_stop == 0, "%zu stops", r->n_stop);
    fail_unless(r->user == NULL && !r->ignore_eos, "user, ignore_eos");
    fail_unless(s->temperature == 1.0f && s->top_p == 1.0f, "t %g p %g",
                s->temperature, s->top_p);
    fail_unless(s->top_k == 0 && s->min_p == 0.0f, "top_k %d min_p %g",
                s->top_k, s->min_p);
    fail_unless(s->repetition_penalty == 1.0f
                && s->frequency_penalty == 0.0f
                && s->presence_penalty == 0.0f, "penalties");
    fail_unless(!s->has_seed, "seeded");
    fail_unless(s->logit_bias == NULL && s->n_logit_bias == 0, "bias");
}


/* Assumption: absent fields take OpenAI's defaults (temperature 1,
 * top_p 1, n 1) and lmd_sampling_defaults' for the rest; has is 0 and
 * max_tokens 0 so the handler fills them. */
LMD_TEST(defaults_when_absent)
{
    struct parsed  p;

    if (parse_ok(&p, CHAT, CHAT_WITH("'x':0"))) {
        check_defaults(&p, CHAT);
        fail_unless(p.req.n_messages == 1, "%zu", p.req.n_messages);
        fail_unless_streq(p.req.messages[0].role, "user");
        fail_unless_streq(p.req.messages[0].content, "hi");
    }
    done(&p);
    if (parse_ok(&p, COMP, COMP_WITH("'x':0"))) {
        check_defaults(&p, COMP);
        fail_unless_streq(p.req.prompt, "hi");
    }
    done(&p);
}


/* Assumption: null means absent for every optional field, of both
 * endpoints (the openai SDKs and LangChain send nulls). */
LMD_TEST(nulls_are_absent)
{
    static const char  common[] =
        "'stream':null,'stream_options':null,'max_tokens':null,"
        "'temperature':null,'top_p':null,'top_k':null,'min_p':null,"
        "'presence_penalty':null,'frequency_penalty':null,"
        "'repetition_penalty':null,'seed':null,'n':null,'logit_bias':null,"
        "'logprobs':null,'stop':null,'user':null,'ignore_eos':null";
    struct parsed       p;
    char                text[2048];

    snprintf(text, sizeof(text), CHAT_WITH("%s,'max_completion_tokens':null,"
             "'top_logprobs':null,'tools':null,'tool_choice':null,"
             "'functions':null,'function_call':null,'response_format':null,"
             "'modalities':null,'audio':null,'prediction':null,"
             "'parallel_tool_calls':null"), common);
    if (parse_ok(&p, CHAT, text)) {
        check_defaults(&p, CHAT);
    }
    done(&p);

    snprintf(text, sizeof(text), COMP_WITH("%s,'echo':null,'suffix':null,"
             "'best_of':null"), common);
    if (parse_ok(&p, COMP, text)) {
        check_defaults(&p, COMP);
    }
    done(&p);

    /* inside a message too: name null is no name */
    if (parse_ok(&p, CHAT, "{'model':'m','messages':[{'role':'user',"
                 "'content':'a','name':null}]}"))
    {
        fail_unless(p.req.messages[0].name == NULL, "name set");
    }
    done(&p);
}


/* Assumption: each of the six has-bits is set by its own field alone
 * (max_completion_tokens counts as max_tokens), others set none. */
LMD_TEST(has_bits)
{
    static const struct {
        const char  *field;
        unsigned     has;
    } cases[] = {
        { "'temperature':1",            LMD_OAI_HAS_TEMPERATURE },
        { "'top_p':1",                  LMD_OAI_HAS_TOP_P },
        { "'top_k':0",                  LMD_OAI_HAS_TOP_K },
        { "'repetition_penalty':1",     LMD_OAI_HAS_REPETITION },
        { "'max_tokens':5",             LMD_OAI_HAS_MAX_TOKENS },
        { "'max_completion_tokens':5",  LMD_OAI_HAS_MAX_TOKENS },
        { "'seed':0",                   LMD_OAI_HAS_SEED },
        { "'min_p':0.1",                0 },
        { "'presence_penalty':1",       0 },
        { "'n':2",                      0 },
        { "'logit_bias':{}",            0 },
    };
    struct parsed       p;
    char                text[256];
    size_t              i;

    for (i = 0; i < lmd_nelems(cases); i++) {
        snprintf(text, sizeof(text), CHAT_WITH("%s"), cases[i].field);
        if (parse_ok(&p, CHAT, text)) {
            fail_unless(p.req.has == cases[i].has, "%s: has 0x%x",
                        cases[i].field, p.req.has);
        }
        done(&p);
    }

    /* seed 0 is a seed, not "unseeded" */
    if (parse_ok(&p, CHAT, CHAT_WITH("'seed':0"))) {
        fail_unless(p.req.sampling.has_seed && p.req.sampling.seed == 0,
                    "seed 0 lost");
    }
    done(&p);
}


/* Assumption: the four prompt forms of OpenAI's reference, one prompt
 * each; "" is a valid prompt. */
LMD_TEST(prompt_forms)
{
    struct parsed  p;

    if (parse_ok(&p, COMP, "{'model':'m','prompt':'abc'}")) {
        fail_unless_streq(p.req.prompt, "abc");
        fail_unless(p.req.prompt_ids == NULL, "ids set");
    }
    done(&p);
    if (parse_ok(&p, COMP, "{'model':'m','prompt':['one']}")) {
        fail_unless_streq(p.req.prompt, "one");
    }
    done(&p);
    if (parse_ok(&p, COMP, "{'model':'m','prompt':[5,0,2147483647]}")) {
        fail_unless(p.req.prompt == NULL && p.req.n_prompt_ids == 3
                    && p.req.prompt_ids[0] == 5 && p.req.prompt_ids[1] == 0
                    && p.req.prompt_ids[2] == 2147483647, "ids wrong");
    }
    done(&p);
    if (parse_ok(&p, COMP, "{'model':'m','prompt':[[9,8]]}")) {
        fail_unless(p.req.n_prompt_ids == 2 && p.req.prompt_ids[0] == 9
                    && p.req.prompt_ids[1] == 8, "nested ids wrong");
    }
    done(&p);
    if (parse_ok(&p, COMP, "{'model':'m','prompt':''}")) {
        fail_unless_streq(p.req.prompt, "");
    }
    done(&p);
}


/* Assumption: a parts array joins its texts with no separator; a single
 * text part is just its text; unicode escapes decode to UTF-8. */
LMD_TEST(content_parts_join)
{
    struct parsed  p;

    if (parse_ok(&p, CHAT, "{'model':'m','messages':[{'role':'system',"
                 "'content':[{'type':'text','text':'a'},{'type':'text',"
                 "'text':''},{'type':'text','text':'b c'}]},{'role':'user',"
                 "'content':[{'type':'text','text':'caf\\u00e9'}]}]}"))
    {
        fail_unless_streq(p.req.messages[0].content, "ab c");
        fail_unless_streq(p.req.messages[1].content, "caf\xc3\xa9");
    }
    done(&p);
}


/* Assumption: accepted edges: top_k -1 is off; repetition_penalty takes
 * any positive value (vLLM); top_p 1 and temperature 2 are inside;
 * integral floats count as integers; max_tokens equal under both names;
 * a stop list of exactly 4. */
LMD_TEST(accepted_edges)
{
    struct parsed  p;

    if (parse_ok(&p, CHAT, CHAT_WITH("'top_k':-1,'repetition_penalty':2.5,"
                 "'top_p':1,'temperature':2,'n':2.0,'max_tokens':8,"
                 "'max_completion_tokens':8,'stop':['a','b','c','d'],"
                 "'seed':9007199254740992,'logprobs':false")))
    {
        fail_unless(p.req.sampling.top_k == 0, "top_k %d",
                    p.req.sampling.top_k);
        fail_unless(close_to(p.req.sampling.repetition_penalty, 2.5),
                    "repetition %g", p.req.sampling.repetition_penalty);
        fail_unless(p.req.n == 2 && p.req.max_tokens == 8, "n, max_tokens");
        fail_unless(p.req.n_stop == 4, "%zu stops", p.req.n_stop);
        fail_unless(p.req.sampling.seed == 9007199254740992ULL, "seed");
        fail_unless(!p.req.logprobs, "logprobs");
    }
    done(&p);

    /* logprobs 0 on completions: the chosen token's, no alternatives */
    if (parse_ok(&p, COMP, COMP_WITH("'logprobs':0"))) {
        fail_unless(p.req.logprobs == 1 && p.req.sampling.top_logprobs == 0,
                    "logprobs %d %d", p.req.logprobs,
                    p.req.sampling.top_logprobs);
    }
    done(&p);

    /* trailing blanks after the object are fine */
    if (parse_ok(&p, COMP, "{'model':'m','prompt':'x'} \r\n")) {
        fail_unless_streq(p.req.prompt, "x");
    }
    done(&p);
}


/* ------------------------------------------------------------------------
 * Refusals
 * ------------------------------------------------------------------------ */

/* Assumption: the body must be one JSON object; anything else is refused
 * with no param and OpenAI's "could not parse" sentence. */
LMD_TEST(bad_body)
{
    static const char  *const bodies[] = {
        "", "not json", "{'model':'m'", "[1,2]", "'text'", "42",
        "{'model':'m','prompt':'x'} trailing",
    };
    static const char   prefix[] =
        "We could not parse the JSON body of your request";
    struct parsed       p;
    size_t              i;

    for (i = 0; i < lmd_nelems(bodies); i++) {
        refused(CHAT, bodies[i], NULL);
        parse(&p, COMP, bodies[i]);
        fail_unless(p.rc == LMD_ERROR && p.e.param == NULL
                    && strncmp(p.e.message, prefix, sizeof(prefix) - 1) == 0,
                    "%s: %s", bodies[i], p.e.message);
        done(&p);
    }
}


/* Assumption: model is a required non-empty string on both endpoints. */
LMD_TEST(bad_model)
{
    refused_msg(CHAT, "{'messages':[{'role':'user','content':'a'}]}",
                "model", "Missing required parameter: 'model'.");
    refused(CHAT, "{'model':null,'messages':[{'role':'user','content':'a'}]}",
            "model");
    refused(COMP, "{'model':'','prompt':'a'}", "model");
    refused_msg(COMP, "{'model':5,'prompt':'a'}", "model",
                "5 is not of type 'string' - 'model'");
}


/* Assumption: messages' shape as OpenAI's reference gives it; each
 * refusal names the message (and part) by index. */
LMD_TEST(bad_messages)
{
    refused(CHAT, "{'model':'m'}", "messages");
    refused_msg(CHAT, "{'model':'m','messages':[]}", "messages",
                "Invalid 'messages': empty array. Expected an array with "
                "minimum length 1, but got an empty array instead.");
    refused(CHAT, "{'model':'m','messages':{'role':'user'}}", "messages");
    refused(CHAT, "{'model':'m','messages':['hi']}", "messages[0]");
    refused(CHAT, "{'model':'m','messages':[{'content':'hi'}]}",
            "messages[0].role");
    refused(CHAT, "{'model':'m','messages':[{'role':1,'content':'hi'}]}",
            "messages[0].role");
    refused_msg(CHAT, "{'model':'m','messages':[{'role':'user','content':"
                "'a'},{'role':'robot','content':'hi'}]}", "messages[1].role",
                "Invalid value for 'messages[1].role': 'robot'. Supported "
                "values are: 'system', 'developer', 'user', 'assistant' and "
                "'tool'.");
    refused(CHAT, "{'model':'m','messages':[{'role':'function',"
            "'content':'x','name':'f'}]}", "messages[0].role");
    refused(CHAT, "{'model':'m','messages':[{'role':'user'}]}",
            "messages[0].content");
    refused(CHAT, "{'model':'m','messages':[{'role':'user','content':null}]}",
            "messages[0].content");
    refused(CHAT, "{'model':'m','messages':[{'role':'system','content':'a'},"
            "{'role':'user','content':'b'},{'role':'user','content':5}]}",
            "messages[2].content");
    refused(CHAT, "{'model':'m','messages':[{'role':'user','content':[]}]}",
            "messages[0].content");
    refused(CHAT, "{'model':'m','messages':[{'role':'user','content':"
            "['a']}]}", "messages[0].content[0]");
    refused(CHAT, "{'model':'m','messages':[{'role':'user','content':"
            "[{'text':'a'}]}]}", "messages[0].content[0].type");
    refused(CHAT, "{'model':'m','messages':[{'role':'user','content':"
            "[{'type':'text'}]}]}", "messages[0].content[0].text");
    refused(CHAT, "{'model':'m','messages':[{'role':'user','content':"
            "[{'type':'text','text':1}]}]}", "messages[0].content[0].text");
    refused(CHAT, "{'model':'m','messages':[{'role':'user','content':'a',"
            "'name':5}]}", "messages[0].name");
}


/* Assumption: image, audio and file parts are refused by name, not
 * dropped (the answer would silently ignore them). */
LMD_TEST(unsupported_parts)
{
    refused_msg(CHAT, "{'model':'m','messages':[{'role':'user','content':"
                "[{'type':'text','text':'see'},{'type':'image_url',"
                "'image_url':{'url':'http://x/a.png'}}]}]}",
                "messages[0].content[1].type",
                "Content parts of type 'image_url' are not supported; only "
                "'text' parts are accepted - 'messages[0].content[1].type'");
    refused(CHAT, "{'model':'m','messages':[{'role':'user','content':"
            "[{'type':'input_audio','input_audio':{}}]}]}",
            "messages[0].content[0].type");
    refused(CHAT, "{'model':'m','messages':[{'role':'user','content':'a'},"
            "{'role':'user','content':[{'type':'file'}]}]}",
            "messages[1].content[0].type");
}


/* Assumption: without tool calling, every tool-related field that asks
 * for something is refused by its name; so are structured output, audio
 * and predicted outputs. */
LMD_TEST(unsupported_chat_fields)
{
    refused(CHAT, CHAT_WITH("'tools':[{'type':'function','function':"
            "{'name':'f'}}]"), "tools");
    refused(CHAT, CHAT_WITH("'tools':{}"), "tools");
    refused(CHAT, CHAT_WITH("'tool_choice':'auto'"), "tool_choice");
    refused(CHAT, CHAT_WITH("'tool_choice':{'type':'function'}"),
            "tool_choice");
    refused(CHAT, CHAT_WITH("'functions':[{'name':'f'}]"), "functions");
    refused(CHAT, CHAT_WITH("'function_call':'auto'"), "function_call");
    refused(CHAT, CHAT_WITH("'response_format':{'type':'json_object'}"),
            "response_format");
    refused(CHAT, CHAT_WITH("'response_format':{'type':'json_schema',"
            "'json_schema':{'name':'x'}}"), "response_format");
    refused(CHAT, CHAT_WITH("'modalities':['text','audio']"), "modalities");
    refused(CHAT, CHAT_WITH("'audio':{'voice':'alloy','format':'wav'}"),
            "audio");
    refused(CHAT, CHAT_WITH("'prediction':{'type':'content','content':'x'}"),
            "prediction");
    refused(CHAT, "{'model':'m','messages':[{'role':'user','content':'a'},"
            "{'role':'assistant','content':null,'tool_calls':[{'id':'c',"
            "'type':'function','function':{'name':'f','arguments':'{}'}}]}]}",
            "messages[1].tool_calls");
}


/* Assumption: completions' prompt takes one prompt in four forms;
 * several are a batch, refused with the advice to split them. */
LMD_TEST(bad_prompt)
{
    refused(COMP, "{'model':'m'}", "prompt");
    refused(COMP, "{'model':'m','prompt':null}", "prompt");
    refused(COMP, "{'model':'m','prompt':5}", "prompt");
    refused(COMP, "{'model':'m','prompt':{}}", "prompt");
    refused(COMP, "{'model':'m','prompt':[]}", "prompt");
    refused_msg(COMP, "{'model':'m','prompt':['a','b']}", "prompt",
                "batched prompts are not supported; send one request per "
                "prompt");
    refused(COMP, "{'model':'m','prompt':[[1],[2]]}", "prompt");
    refused(COMP, "{'model':'m','prompt':[1,-2]}", "prompt[1]");
    refused(COMP, "{'model':'m','prompt':[1,'a']}", "prompt[1]");
    refused(COMP, "{'model':'m','prompt':[1.5]}", "prompt[0]");
    refused(COMP, "{'model':'m','prompt':[2147483648]}", "prompt[0]");
    refused(COMP, "{'model':'m','prompt':[[]]}", "prompt[0]");
    refused(COMP, "{'model':'m','prompt':[[1,'x']]}", "prompt[0][1]");
    refused(COMP, "{'model':'m','prompt':[{}]}", "prompt[0]");
    refused(COMP, "{'model':'m','prompt':[null]}", "prompt[0]");
}


/* Assumption: completions-only fields: suffix is refused, echo must be a
 * boolean, best_of must equal n, logprobs is 0..5. */
LMD_TEST(bad_completion_fields)
{
    refused(COMP, COMP_WITH("'suffix':'end'"), "suffix");
    refused(COMP, COMP_WITH("'echo':'yes'"), "echo");
    refused(COMP, COMP_WITH("'best_of':2"), "best_of");
    refused(COMP, COMP_WITH("'best_of':2,'n':3"), "best_of");
    refused(COMP, COMP_WITH("'best_of':0"), "best_of");
    refused_msg(COMP, COMP_WITH("'logprobs':6"), "logprobs",
                "6 is greater than the maximum of 5 - 'logprobs'");
    refused(COMP, COMP_WITH("'logprobs':-1"), "logprobs");
    refused(COMP, COMP_WITH("'logprobs':true"), "logprobs");
}


/* Assumption: stream is a boolean; stream_options is an object allowed
 * only with stream true (OpenAI's own refusal). */
LMD_TEST(bad_stream)
{
    refused(CHAT, CHAT_WITH("'stream':'true'"), "stream");
    refused(COMP, COMP_WITH("'stream':1"), "stream");
    refused_msg(CHAT, CHAT_WITH("'stream_options':{'include_usage':true}"),
                "stream_options", "The 'stream_options' parameter is only "
                "allowed when 'stream' is enabled.");
    refused(COMP, COMP_WITH("'stream':false,'stream_options':"
            "{'include_usage':true}"), "stream_options");
    refused(CHAT, CHAT_WITH("'stream':true,'stream_options':true"),
            "stream_options");
    refused(CHAT, CHAT_WITH("'stream':true,'stream_options':"
            "{'include_usage':1}"), "stream_options.include_usage");
}


/* Assumption: max_tokens and max_completion_tokens are integers >= 1 and
 * must agree when both are sent. */
LMD_TEST(bad_max_tokens)
{
    refused_msg(CHAT, CHAT_WITH("'max_tokens':0"), "max_tokens",
                "0 is less than the minimum of 1 - 'max_tokens'");
    refused(COMP, COMP_WITH("'max_tokens':-5"), "max_tokens");
    refused(COMP, COMP_WITH("'max_tokens':1.5"), "max_tokens");
    refused_msg(COMP, COMP_WITH("'max_tokens':'16'"), "max_tokens",
                "'16' is not of type 'integer' - 'max_tokens'");
    refused(CHAT, CHAT_WITH("'max_completion_tokens':0"),
            "max_completion_tokens");
    refused(CHAT, CHAT_WITH("'max_tokens':10,'max_completion_tokens':20"),
            "max_completion_tokens");
}


/* Assumption: the sampling ranges of OpenAI's reference (temperature
 * 0..2, top_p (0, 1], penalties -2..2, n 1..128) and vLLM's (top_k -1 or
 * more, min_p 0..1, repetition_penalty > 0), with OpenAI's wording. */
LMD_TEST(bad_sampling)
{
    refused_msg(CHAT, CHAT_WITH("'temperature':-0.5"), "temperature",
                "-0.5 is less than the minimum of 0 - 'temperature'");
    refused_msg(COMP, COMP_WITH("'temperature':2.5"), "temperature",
                "2.5 is greater than the maximum of 2 - 'temperature'");
    refused_msg(CHAT, CHAT_WITH("'temperature':'abc'"), "temperature",
                "'abc' is not of type 'number' - 'temperature'");
    refused(CHAT, CHAT_WITH("'temperature':true"), "temperature");
    refused_msg(CHAT, CHAT_WITH("'top_p':0"), "top_p",
                "0 is less than or equal to the minimum of 0 - 'top_p'");
    refused(COMP, COMP_WITH("'top_p':1.5"), "top_p");
    refused(CHAT, CHAT_WITH("'top_k':-2"), "top_k");
    refused(CHAT, CHAT_WITH("'top_k':1.5"), "top_k");
    refused(CHAT, CHAT_WITH("'min_p':1.1"), "min_p");
    refused(COMP, COMP_WITH("'min_p':-0.1"), "min_p");
    refused(CHAT, CHAT_WITH("'presence_penalty':2.5"), "presence_penalty");
    refused(COMP, COMP_WITH("'frequency_penalty':-3"), "frequency_penalty");
    refused(CHAT, CHAT_WITH("'repetition_penalty':0"), "repetition_penalty");
    refused(COMP, COMP_WITH("'repetition_penalty':-1"),
            "repetition_penalty");
    refused(CHAT, CHAT_WITH("'seed':1.5"), "seed");
    refused(CHAT, CHAT_WITH("'seed':'7'"), "seed");
    refused(COMP, COMP_WITH("'seed':1e30"), "seed");
    refused_msg(CHAT, CHAT_WITH("'n':0"), "n",
                "0 is less than the minimum of 1 - 'n'");
    refused(COMP, COMP_WITH("'n':129"), "n");
    refused(CHAT, CHAT_WITH("'n':1.5"), "n");
}


/* Assumption: a long value is quoted back cut to 40 bytes, on a UTF-8
 * character boundary, with "...". */
LMD_TEST(long_value_clipped)
{
    struct parsed  p;

    /* 39 x then a 2-byte letter: the cut falls inside it */
    parse(&p, CHAT, CHAT_WITH("'temperature':"
          "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9yyyy'"));
    fail_unless_streq(p.e.message,
                      "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is not "
                      "of type 'number' - 'temperature'");
    done(&p);
}


/* Assumption: logit_bias maps token ids written as non-negative decimal
 * strings to -100..100, at most 300 entries (OpenAI's limits). */
LMD_TEST(bad_logit_bias)
{
    struct parsed  p;
    char          *text;
    size_t         i, off, size = 16384;

    refused_msg(CHAT, CHAT_WITH("'logit_bias':{'abc':1}"), "logit_bias",
                "Invalid key in 'logit_bias': abc. You should only be "
                "submitting non-negative integers.");
    refused(CHAT, CHAT_WITH("'logit_bias':{'-1':1}"), "logit_bias");
    refused(CHAT, CHAT_WITH("'logit_bias':{'':1}"), "logit_bias");
    refused(CHAT, CHAT_WITH("'logit_bias':{'1.5':1}"), "logit_bias");
    refused(CHAT, CHAT_WITH("'logit_bias':{'99999999999':1}"), "logit_bias");
    refused(COMP, COMP_WITH("'logit_bias':{'5':101}"), "logit_bias");
    refused(COMP, COMP_WITH("'logit_bias':{'5':-100.5}"), "logit_bias");
    refused(COMP, COMP_WITH("'logit_bias':{'5':'x'}"), "logit_bias");
    refused(COMP, COMP_WITH("'logit_bias':[1]"), "logit_bias");

    /* 300 entries pass, 301 do not */
    text = malloc(size);
    if (text == NULL) {
        fail_unless(0, "out of memory");
        return;
    }
    off = (size_t) snprintf(text, size, "{'model':'m','prompt':'x',"
                            "'logit_bias':{");
    for (i = 0; i < 301; i++) {
        off += (size_t) snprintf(text + off, size - off, "%s'%zu':1",
                                 i ? "," : "", i);
        if (i == 299) {
            snprintf(text + off, size - off, "}}");
            if (parse_ok(&p, COMP, text)) {
                fail_unless(p.req.sampling.n_logit_bias == 300, "%zu",
                            p.req.sampling.n_logit_bias);
            }
            done(&p);
        }
    }
    snprintf(text + off, size - off, "}}");
    refused(COMP, text, "logit_bias");
    free(text);
}


/* Assumption: chat's logprobs is a boolean and top_logprobs (0..20)
 * needs it true, as OpenAI refuses otherwise. */
LMD_TEST(bad_logprobs)
{
    refused(CHAT, CHAT_WITH("'logprobs':1"), "logprobs");
    refused_msg(CHAT, CHAT_WITH("'top_logprobs':5"), "top_logprobs",
                "The 'top_logprobs' parameter is only allowed when "
                "'logprobs' is enabled.");
    refused(CHAT, CHAT_WITH("'logprobs':false,'top_logprobs':2"),
            "top_logprobs");
    refused(CHAT, CHAT_WITH("'logprobs':true,'top_logprobs':21"),
            "top_logprobs");
    refused(CHAT, CHAT_WITH("'logprobs':true,'top_logprobs':-1"),
            "top_logprobs");
}


/* Assumption: stop is a string or up to 4 strings; user a string;
 * ignore_eos a boolean. */
LMD_TEST(bad_stop_user_ignore_eos)
{
    refused_msg(CHAT, CHAT_WITH("'stop':['a','b','c','d','e']"), "stop",
                "Invalid 'stop': array too long. Expected an array with "
                "maximum length 4, but got an array with length 5 "
                "instead.");
    refused(COMP, COMP_WITH("'stop':5"), "stop");
    refused(COMP, COMP_WITH("'stop':['a',1]"), "stop[1]");
    refused(CHAT, CHAT_WITH("'user':5"), "user");
    refused(COMP, COMP_WITH("'ignore_eos':'x'"), "ignore_eos");
}
