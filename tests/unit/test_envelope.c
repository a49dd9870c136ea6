/*
 * test_envelope.c: request envelopes (wsman/envelope.c, wsman/shell.c),
 * checked three ways: exact bytes, XPath, and element structure against the
 * requests pypsrp recorded for the same operations (run through the real
 * shell functions with a fake transport that answers with the recorded
 * Windows replies).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "common/error.h"
#include "recording.h"
#include "wsman/envelope.h"
#include "wsman/ns.h"
#include "wsman/shell.h"
#include "wsman/wsman.h"
#include "wsman/xml.h"

#define NS_DECLS                                                                                   \
    "xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "                                         \
    "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "                                \
    "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" "                                  \
    "xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd\" "                             \
    "xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\""

#define MSG_ID "uuid:0E4C9A2F-8D1B-4C3A-9E5F-6A7B8C9D0E1F"
#define SESSION_ID "uuid:A635D444-7E75-4E46-9A68-2FFF53AF45CA"
#define SHELL_ID "4283CBDC-3706-415B-88BD-B385F3E51A53"
#define COMMAND_ID "CF84C20A-0A35-43FA-AF78-0B4711DA5F30"

static wr_envelope base_envelope(const char *action)
{
    wr_envelope e = {
        .to = "http://192.168.56.11:5985/wsman",
        .resource_uri = WR_URI_SHELL_CMD,
        .action = action,
        .message_id = MSG_ID,
        .max_envelope_size = 512000,
        .locale = NULL,
        .operation_timeout_ms = 20000,
        .session_id = SESSION_ID,
        .shell_id = SHELL_ID,
    };
    return e;
}

#define HEADER_TO_ACTION(action)                                                                   \
    "<s:Envelope " NS_DECLS "><s:Header><a:To>http://192.168.56.11:5985/wsman</a:To>"              \
    "<w:ResourceURI s:mustUnderstand=\"true\">"                                                    \
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>"                  \
    "<a:ReplyTo><a:Address s:mustUnderstand=\"true\">"                                             \
    "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"      \
    "<a:Action s:mustUnderstand=\"true\">" action "</a:Action>"                                    \
    "<a:MessageID>" MSG_ID "</a:MessageID>"                                                        \
    "<w:MaxEnvelopeSize s:mustUnderstand=\"true\">512000</w:MaxEnvelopeSize>"                      \
    "<w:Locale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>"                                    \
    "<p:DataLocale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>"                                \
    "<w:OperationTimeout>PT20.000S</w:OperationTimeout>"                                           \
    "<p:SessionId s:mustUnderstand=\"false\">" SESSION_ID "</p:SessionId>"

#define SELECTOR                                                                                   \
    "<w:SelectorSet><w:Selector Name=\"ShellId\">" SHELL_ID "</w:Selector></w:SelectorSet>"

static void test_delete_exact_bytes(void **state)
{
    (void)state;
    wr_envelope e = base_envelope(WR_ACTION_DELETE);
    wr_buf b = WR_BUF_INIT;
    assert_int_equal(wr_envelope_build(&b, &e, NULL, 0), 0);
    assert_string_equal(wr_buf_cstr(&b),
                        HEADER_TO_ACTION("http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete")
                            SELECTOR "</s:Header><s:Body></s:Body></s:Envelope>");
    wr_buf_free(&b);
}

static void test_receive_exact_bytes(void **state)
{
    (void)state;
    wr_envelope e = base_envelope(WR_ACTION_RECEIVE);
    wr_option keepalive = {"WSMAN_CMDSHELL_OPTION_KEEPALIVE", "TRUE", 0};
    e.options = &keepalive;
    e.noptions = 1;
    wr_buf body = WR_BUF_INIT, b = WR_BUF_INIT;
    assert_int_equal(wr_shell_build_receive(&body, "stdout stderr", COMMAND_ID), 0);
    assert_int_equal(wr_envelope_build(&b, &e, (const char *)body.data, body.len), 0);
    assert_string_equal(wr_buf_cstr(&b),
                        HEADER_TO_ACTION("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
                                         "Receive") "<w:OptionSet "
                                                    "s:mustUnderstand=\"true\"><w:Option "
                                                    "Name=\"WSMAN_CMDSHELL_OPTION_KEEPALIVE\">TRUE<"
                                                    "/w:Option></w:OptionSet>" SELECTOR
                                                    "</"
                                                    "s:Header><s:Body><rsp:Receive><rsp:"
                                                    "DesiredStream CommandId=\"" COMMAND_ID
                                                    "\">stdout "
                                                    "stderr</rsp:DesiredStream></rsp:Receive></"
                                                    "s:Body></s:Envelope>");
    wr_buf_free(&body);
    wr_buf_free(&b);
}

static void test_identify_exact_bytes(void **state)
{
    (void)state;
    wr_buf b = WR_BUF_INIT;
    assert_int_equal(wr_envelope_build_identify(&b), 0);
    assert_string_equal(wr_buf_cstr(&b),
                        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
                        "xmlns:wsmid=\"http://schemas.dmtf.org/wbem/wsman/identity/1/"
                        "wsmanidentity.xsd\"><s:Header/><s:Body><wsmid:Identify/></s:Body>"
                        "</s:Envelope>");
    wr_buf_free(&b);
}

static void test_bodies_exact_bytes(void **state)
{
    (void)state;
    wr_buf b = WR_BUF_INIT;
    const char *env[] = {"PATH=C:\\bin", "A=b=c", NULL};
    wr_shell_create_args ca = {.resource_uri = WR_URI_SHELL_CMD,
                               .input_streams = "stdin",
                               .output_streams = "stdout stderr",
                               .working_directory = "C:\\Windows",
                               .environment = env,
                               .idle_timeout_s = 60};
    assert_int_equal(wr_shell_build_create(&b, &ca), 0);
    assert_string_equal(wr_buf_cstr(&b),
                        "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>"
                        "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
                        "<rsp:WorkingDirectory>C:\\Windows</rsp:WorkingDirectory>"
                        "<rsp:Environment><rsp:Variable Name=\"PATH\">C:\\bin</rsp:Variable>"
                        "<rsp:Variable Name=\"A\">b=c</rsp:Variable></rsp:Environment>"
                        "<rsp:IdleTimeOut>PT60.000S</rsp:IdleTimeOut></rsp:Shell>");
    wr_buf_clear(&b);

    /* PSRP's Create: client ShellId, two input streams, creationXml. */
    wr_shell_create_args pa = {
        .resource_uri = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell",
        .shell_id = "76056A84-51DC-4F24-9262-CA2A55464B2B",
        .input_streams = "stdin pr",
        .output_streams = "stdout",
        .extra_body = "<creationXml xmlns=\"http://schemas.microsoft.com/powershell\">AAAA"
                      "</creationXml>"};
    assert_int_equal(wr_shell_build_create(&b, &pa), 0);
    assert_string_equal(wr_buf_cstr(&b),
                        "<rsp:Shell ShellId=\"76056A84-51DC-4F24-9262-CA2A55464B2B\">"
                        "<rsp:InputStreams>stdin pr</rsp:InputStreams>"
                        "<rsp:OutputStreams>stdout</rsp:OutputStreams>"
                        "<creationXml xmlns=\"http://schemas.microsoft.com/powershell\">AAAA"
                        "</creationXml></rsp:Shell>");
    wr_buf_clear(&b);

    const char *args[] = {"/c", "echo a&b <\"x\">"};
    wr_shell_command_args ma = {.command = "cmd.exe", .args = args, .nargs = 2};
    assert_int_equal(wr_shell_build_command(&b, &ma), 0);
    assert_string_equal(wr_buf_cstr(&b), "<rsp:CommandLine><rsp:Command>cmd.exe</rsp:Command>"
                                         "<rsp:Arguments>/c</rsp:Arguments><rsp:Arguments>echo "
                                         "a&amp;b &lt;&quot;x&quot;&gt;</rsp:Arguments>"
                                         "</rsp:CommandLine>");
    wr_buf_clear(&b);

    wr_shell_command_args pc = {.command = "", .command_id = COMMAND_ID};
    assert_int_equal(wr_shell_build_command(&b, &pc), 0);
    assert_string_equal(wr_buf_cstr(&b), "<rsp:CommandLine CommandId=\"" COMMAND_ID
                                         "\"><rsp:Command></rsp:Command></rsp:CommandLine>");
    wr_buf_clear(&b);

    assert_int_equal(wr_shell_build_send(&b, "stdin", COMMAND_ID, "hi\r\n", 4, 0), 0);
    assert_string_equal(wr_buf_cstr(&b),
                        "<rsp:Send><rsp:Stream Name=\"stdin\" CommandId=\"" COMMAND_ID
                        "\">aGkNCg==</rsp:Stream></rsp:Send>");
    wr_buf_clear(&b);
    assert_int_equal(wr_shell_build_send(&b, "pr", NULL, NULL, 0, 1), 0);
    assert_string_equal(wr_buf_cstr(&b),
                        "<rsp:Send><rsp:Stream Name=\"pr\" End=\"true\"></rsp:Stream></rsp:Send>");
    wr_buf_clear(&b);

    assert_int_equal(wr_shell_build_receive(&b, "stdout", NULL), 0);
    assert_string_equal(wr_buf_cstr(&b),
                        "<rsp:Receive><rsp:DesiredStream>stdout</rsp:DesiredStream></rsp:Receive>");
    wr_buf_clear(&b);

    assert_int_equal(wr_shell_build_signal(&b, COMMAND_ID, WR_SIGNAL_TERMINATE), 0);
    assert_string_equal(wr_buf_cstr(&b),
                        "<rsp:Signal CommandId=\"" COMMAND_ID "\"><rsp:Code>http://schemas."
                        "microsoft.com/wbem/wsman/1/windows/shell/signal/terminate</rsp:Code>"
                        "</rsp:Signal>");
    wr_buf_free(&b);
}

static void test_bad_environment(void **state)
{
    (void)state;
    const char *env[] = {"NOEQUALS", NULL};
    wr_shell_create_args ca = {.environment = env};
    wr_buf b = WR_BUF_INIT;
    assert_int_equal(wr_shell_build_create(&b, &ca), WINRSH_EINVAL);
    wr_buf_free(&b);
}

static void test_duration_format(void **state)
{
    (void)state;
    char d[32];
    wr_duration_format(d, 20000);
    assert_string_equal(d, "PT20.000S");
    wr_duration_format(d, 1500);
    assert_string_equal(d, "PT1.500S");
    wr_duration_format(d, 7);
    assert_string_equal(d, "PT0.007S");
    wr_duration_format(d, -1);
    assert_string_equal(d, "PT0.000S");
}

/* Escaping survives a parser exactly; what XML cannot carry is refused. */
static void test_escape_round_trip(void **state)
{
    (void)state;
    const char *nasty = "a&b<c>d\"e'f\r\ng\th \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 ]]>";
    wr_buf b = WR_BUF_INIT;
    wr_buf_puts(&b, "<x a=\"");
    assert_int_equal(wr_xml_escape_str(&b, nasty, "test"), 0);
    wr_buf_puts(&b, "\">");
    assert_int_equal(wr_xml_escape_str(&b, nasty, "test"), 0);
    wr_buf_puts(&b, "</x>");
    xmlDocPtr doc;
    assert_int_equal(wr_xml_parse(&doc, (const char *)b.data, b.len), 0);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlChar *attr = xmlGetProp(root, (const xmlChar *)"a");
    xmlChar *text = xmlNodeGetContent(root);
    assert_string_equal((const char *)attr, nasty);
    assert_string_equal((const char *)text, nasty);
    xmlFree(attr);
    xmlFree(text);
    xmlFreeDoc(doc);
    wr_buf_free(&b);

    const char *bad[] = {"ctl\x01",
                         "nul-free but \x7f is fine? no: \x1b",
                         "\xc3",
                         "\xc0\xaf",
                         "\xed\xa0\x80",
                         "\xef\xbf\xbe",
                         "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wr_buf o = WR_BUF_INIT;
        if (wr_xml_escape_str(&o, bad[i], "an argument") != WINRSH_EINVAL)
            fail_msg("bad input %zu accepted", i);
        assert_non_null(strstr(winrsh_error_last()->message, "an argument"));
        wr_buf_free(&o);
    }
    /* DEL is a legal XML character. */
    wr_buf o = WR_BUF_INIT;
    assert_int_equal(wr_xml_escape_str(&o, "\x7f", "x"), 0);
    wr_buf_free(&o);
}

/* ---- XPath checks of a full request ---------------------------------- */

static xmlXPathContextPtr xpath_ctx(xmlDocPtr doc)
{
    xmlXPathContextPtr x = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(x, (const xmlChar *)"s", (const xmlChar *)WR_NS_SOAP);
    xmlXPathRegisterNs(x, (const xmlChar *)"a", (const xmlChar *)WR_NS_ADDRESSING);
    xmlXPathRegisterNs(x, (const xmlChar *)"w", (const xmlChar *)WR_NS_WSMAN);
    xmlXPathRegisterNs(x, (const xmlChar *)"p", (const xmlChar *)WR_NS_WSMV);
    xmlXPathRegisterNs(x, (const xmlChar *)"rsp", (const xmlChar *)WR_NS_SHELL);
    return x;
}

static void xpath_is(xmlXPathContextPtr x, const char *expr, const char *want)
{
    char full[512];
    snprintf(full, sizeof(full), "string(%s)", expr);
    xmlXPathObjectPtr r = xmlXPathEvalExpression((const xmlChar *)full, x);
    assert_non_null(r);
    if (strcmp((const char *)r->stringval, want) != 0)
        fail_msg("%s = '%s', want '%s'", expr, r->stringval, want);
    xmlXPathFreeObject(r);
}

static void test_xpath_create(void **state)
{
    (void)state;
    wr_envelope e = base_envelope(WR_ACTION_CREATE);
    e.shell_id = NULL;
    e.locale = "de-DE";
    wr_option opts[] = {{"WINRS_NOPROFILE", "TRUE", 1}, {"WINRS_CODEPAGE", "65001", 0}};
    e.options = opts;
    e.noptions = 2;
    wr_shell_create_args ca = {.input_streams = "stdin", .output_streams = "stdout stderr"};
    wr_buf body = WR_BUF_INIT, b = WR_BUF_INIT;
    assert_int_equal(wr_shell_build_create(&body, &ca), 0);
    assert_int_equal(wr_envelope_build(&b, &e, (const char *)body.data, body.len), 0);
    xmlDocPtr doc;
    assert_int_equal(wr_xml_parse(&doc, (const char *)b.data, b.len), 0);
    xmlXPathContextPtr x = xpath_ctx(doc);
    xpath_is(x, "/s:Envelope/s:Header/a:To", "http://192.168.56.11:5985/wsman");
    xpath_is(x, "/s:Envelope/s:Header/w:ResourceURI/@s:mustUnderstand", "true");
    xpath_is(x, "/s:Envelope/s:Header/w:ResourceURI", WR_URI_SHELL_CMD);
    xpath_is(x, "/s:Envelope/s:Header/a:ReplyTo/a:Address", WR_ADDRESS_ANONYMOUS);
    xpath_is(x, "/s:Envelope/s:Header/a:ReplyTo/a:Address/@s:mustUnderstand", "true");
    xpath_is(x, "/s:Envelope/s:Header/a:Action", WR_ACTION_CREATE);
    xpath_is(x, "/s:Envelope/s:Header/a:Action/@s:mustUnderstand", "true");
    xpath_is(x, "/s:Envelope/s:Header/a:MessageID", MSG_ID);
    xpath_is(x, "/s:Envelope/s:Header/w:MaxEnvelopeSize", "512000");
    xpath_is(x, "/s:Envelope/s:Header/w:Locale/@xml:lang", "de-DE");
    xpath_is(x, "/s:Envelope/s:Header/w:Locale/@s:mustUnderstand", "false");
    xpath_is(x, "/s:Envelope/s:Header/p:DataLocale/@xml:lang", "de-DE");
    xpath_is(x, "/s:Envelope/s:Header/w:OperationTimeout", "PT20.000S");
    xpath_is(x, "/s:Envelope/s:Header/p:SessionId", SESSION_ID);
    xpath_is(x, "/s:Envelope/s:Header/w:OptionSet/w:Option[@Name='WINRS_NOPROFILE']", "TRUE");
    xpath_is(x, "/s:Envelope/s:Header/w:OptionSet/w:Option[@Name='WINRS_NOPROFILE']/@MustComply",
             "true");
    xpath_is(x, "/s:Envelope/s:Header/w:OptionSet/w:Option[@Name='WINRS_CODEPAGE']", "65001");
    xpath_is(x, "count(/s:Envelope/s:Header/w:SelectorSet)", "0");
    xpath_is(x, "/s:Envelope/s:Body/rsp:Shell/rsp:InputStreams", "stdin");
    xpath_is(x, "/s:Envelope/s:Body/rsp:Shell/rsp:OutputStreams", "stdout stderr");
    xmlXPathFreeContext(x);
    xmlFreeDoc(doc);
    wr_buf_free(&body);
    wr_buf_free(&b);
}

/* ---- structure against pypsrp's recorded requests -------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Canonical text of an element: {ns}name, sorted attributes, children or
 * trimmed text. Differences that mean nothing are normalised: ids that are
 * random per request, xs:boolean spelling (pypsrp writes "True"), an absent
 * End being End="false", and PT20S == PT20.000S. */
static void canon(const xmlNode *n, wr_buf *out)
{
    wr_buf_printf(out, "<{%s}%s", n->ns ? (const char *)n->ns->href : "", n->name);
    char *attrs[16];
    size_t na = 0;
    for (xmlAttrPtr a = n->properties; a && na < 16; a = a->next) {
        xmlChar *v = xmlNodeGetContent((xmlNodePtr)a);
        char buf[512];
        snprintf(buf, sizeof(buf), "{%s}%s=%s", a->ns ? (const char *)a->ns->href : "", a->name,
                 (const char *)v);
        xmlFree(v);
        if (strcmp((const char *)a->name, "End") == 0) {
            for (char *p = buf; *p; p++)
                *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            if (strstr(buf, "=false"))
                continue;
        }
        attrs[na++] = strdup(buf);
    }
    qsort(attrs, na, sizeof(attrs[0]), cmp_str);
    for (size_t i = 0; i < na; i++) {
        wr_buf_printf(out, " %s", attrs[i]);
        free(attrs[i]);
    }
    wr_buf_puts(out, ">");
    int elems = 0;
    for (xmlNodePtr c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE) {
            canon(c, out);
            elems = 1;
        }
    if (!elems) {
        int rc = 0;
        char *t = wr_xml_text(n, &rc);
        const char *name = (const char *)n->name;
        if (strcmp(name, "MessageID") == 0 || strcmp(name, "SessionId") == 0) {
            wr_buf_puts(out, "ID");
        } else if (strcmp(name, "OperationTimeout") == 0 && t) {
            double s = 0;
            sscanf(t, "PT%lfS", &s);
            wr_buf_printf(out, "%.3f", s);
        } else if (t) {
            wr_buf_puts(out, t);
        }
        free(t);
    }
    wr_buf_printf(out, "</%s>", n->name);
}

/* Compare one of our requests with pypsrp's: the same header elements
 * (order free), every option pypsrp sent present with the same value
 * (we send more: both WinRS options, always), the same body. */
static void compare_requests(const char *ours, const char *theirs, const char *what)
{
    xmlDocPtr d[2];
    assert_int_equal(wr_xml_parse(&d[0], ours, strlen(ours)), 0);
    assert_int_equal(wr_xml_parse(&d[1], theirs, strlen(theirs)), 0);
    char *headers[2][20];
    size_t nh[2] = {0, 0};
    xmlNodePtr options[2] = {NULL, NULL};
    wr_buf body[2] = {WR_BUF_INIT, WR_BUF_INIT};
    for (int k = 0; k < 2; k++) {
        xmlNodePtr env = xmlDocGetRootElement(d[k]);
        xmlNodePtr h = wr_xml_child(env, WR_NS_SOAP, "Header");
        for (xmlNodePtr c = h->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE)
                continue;
            if (wr_xml_is(c, WR_NS_WSMAN, "OptionSet")) {
                options[k] = c;
                continue;
            }
            wr_buf one = WR_BUF_INIT;
            canon(c, &one);
            assert_true(nh[k] < 20);
            headers[k][nh[k]++] = (char *)wr_buf_detach(&one, NULL);
        }
        qsort(headers[k], nh[k], sizeof(char *), cmp_str);
        canon(wr_xml_child(env, WR_NS_SOAP, "Body"), &body[k]);
    }
    if (nh[0] != nh[1])
        fail_msg("%s: %zu header elements, pypsrp %zu", what, nh[0], nh[1]);
    for (size_t i = 0; i < nh[0]; i++)
        if (strcmp(headers[0][i], headers[1][i]) != 0)
            fail_msg("%s: header\n  ours   %s\n  pypsrp %s", what, headers[0][i], headers[1][i]);
    for (xmlNodePtr o = options[1] ? options[1]->children : NULL; o; o = o->next) {
        int rc = 0;
        char *name = wr_xml_attr(o, "Name", &rc), *value = wr_xml_text(o, &rc);
        int found = 0;
        for (xmlNodePtr m = options[0] ? options[0]->children : NULL; m && !found; m = m->next) {
            char *n2 = wr_xml_attr(m, "Name", &rc), *v2 = wr_xml_text(m, &rc);
            found = n2 && strcmp(n2, name) == 0 && v2 && strcasecmp(v2, value) == 0;
            free(n2);
            free(v2);
        }
        if (!found)
            fail_msg("%s: option %s=%s missing", what, name, value);
        free(name);
        free(value);
    }
    if (strcmp(wr_buf_cstr(&body[0]), wr_buf_cstr(&body[1])) != 0)
        fail_msg("%s: body\n  ours   %s\n  pypsrp %s", what, wr_buf_cstr(&body[0]),
                 wr_buf_cstr(&body[1]));
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < nh[k]; i++)
            free(headers[k][i]);
        wr_buf_free(&body[k]);
        xmlFreeDoc(d[k]);
    }
}

typedef struct collected {
    wr_buf out[2];
} collected;

static int collect(const char *stream, const char *command_id, const unsigned char *data,
                   size_t len, int end, void *payload)
{
    (void)command_id;
    (void)end;
    collected *c = payload;
    wr_buf_append(&c->out[strcmp(stream, "stderr") == 0], data, len);
    return 0;
}

static const wr_option CREATE_OPTS[] = {{"WINRS_NOPROFILE", "FALSE", 0},
                                        {"WINRS_CODEPAGE", "65001", 0}};
static const wr_option COMMAND_OPTS[] = {{"WINRS_CONSOLEMODE_STDIN", "FALSE", 0},
                                         {"WINRS_SKIP_CMD_SHELL", "FALSE", 0}};

static wr_wsman *open_recorded(rec_fake *fake, const recording *rec)
{
    for (size_t i = 0; i < rec->n; i++)
        rec_fake_push(fake, rec->msgs[i].response, rec->msgs[i].http_500 ? 500 : 200);
    wr_wsman_options o = {.url = "http://192.168.56.11:5985/wsman",
                          .post = rec_fake_post,
                          .post_ctx = fake,
                          .max_envelope_size = 153600};
    wr_wsman *w = NULL;
    assert_int_equal(wr_wsman_open(&w, &o), 0);
    return w;
}

static void test_matches_pypsrp_standard(void **state)
{
    (void)state;
    recording rec = rec_load("test_winrs_standard.yml");
    assert_int_equal(rec.n, 5);
    rec_fake fake = {0};
    wr_wsman *w = open_recorded(&fake, &rec);

    wr_shell_create_args ca = {.resource_uri = WR_URI_SHELL_CMD,
                               .input_streams = "stdin",
                               .output_streams = "stdout stderr",
                               .options = CREATE_OPTS,
                               .noptions = 2};
    wr_shell *sh = NULL;
    assert_int_equal(wr_shell_create(&sh, w, &ca), 0);
    assert_string_equal(wr_shell_get_id(sh), SHELL_ID);

    const char *args[] = {"/c", "echo", "hi"};
    wr_shell_command_args ma = {
        .command = "cmd.exe", .args = args, .nargs = 3, .options = COMMAND_OPTS, .noptions = 2};
    char *cid = NULL;
    assert_int_equal(wr_shell_command(sh, &ma, &cid), 0);
    assert_string_equal(cid, COMMAND_ID);

    collected got = {{WR_BUF_INIT, WR_BUF_INIT}};
    wr_shell_receive_args ra = {
        .streams = "stdout stderr", .command_id = cid, .cb = collect, .payload = &got};
    wr_receive_result res;
    assert_int_equal(wr_shell_receive(sh, &ra, &res), 0);
    assert_true(res.done);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(wr_buf_cstr(&got.out[0]), "hi\r\n");

    assert_int_equal(wr_shell_signal(sh, cid, WR_SIGNAL_CTRL_C), 0);
    assert_int_equal(wr_shell_delete(sh), 0);

    const char *names[] = {"Create", "Command", "Receive", "Signal", "Delete"};
    assert_int_equal(fake.nrequests, 5);
    for (size_t i = 0; i < 5; i++)
        compare_requests(fake.requests[i], rec.msgs[i].request, names[i]);

    /* Every request: a fresh upper-case uuid: message id, one session id. */
    char sid[128] = "";
    for (size_t i = 0; i < 5; i++) {
        const char *m = strstr(fake.requests[i], "<a:MessageID>uuid:") + 18;
        for (size_t k = 0; k < 36; k++)
            assert_true(m[k] == '-' || (m[k] >= '0' && m[k] <= '9') ||
                        (m[k] >= 'A' && m[k] <= 'F'));
        const char *s = strstr(fake.requests[i], "<p:SessionId s:mustUnderstand=\"false\">");
        assert_non_null(s);
        if (i == 0)
            memcpy(sid, s, 90);
        else
            assert_memory_equal(sid, s, 90);
        if (i)
            assert_true(strncmp(strstr(fake.requests[i - 1], "<a:MessageID>"),
                                strstr(fake.requests[i], "<a:MessageID>"), 60) != 0);
    }
    free(cid);
    wr_buf_free(&got.out[0]);
    wr_buf_free(&got.out[1]);
    wr_shell_free(sh);
    wr_wsman_free(w);
    rec_fake_free(&fake);
    rec_free(&rec);
}

static void test_matches_pypsrp_send(void **state)
{
    (void)state;
    recording rec = rec_load("test_winrs_send.yml");
    assert_int_equal(rec.n, 7);
    rec_fake fake = {0};
    wr_wsman *w = open_recorded(&fake, &rec);
    wr_shell_create_args ca = {.resource_uri = WR_URI_SHELL_CMD,
                               .input_streams = "stdin",
                               .output_streams = "stdout stderr",
                               .options = CREATE_OPTS,
                               .noptions = 2};
    wr_shell *sh = NULL;
    assert_int_equal(wr_shell_create(&sh, w, &ca), 0);
    const char *args[] = {"-"};
    wr_shell_command_args ma = {.command = "powershell.exe",
                                .args = args,
                                .nargs = 1,
                                .options = COMMAND_OPTS,
                                .noptions = 2};
    char *cid = NULL;
    assert_int_equal(wr_shell_command(sh, &ma, &cid), 0);
    const char *l1 = "Write-Host \"output 1\";", *l2 = "Write-Host \"output 2\";";
    assert_int_equal(wr_shell_send(sh, "stdin", cid, l1, strlen(l1), 0), 0);
    assert_int_equal(wr_shell_send(sh, "stdin", cid, l2, strlen(l2), 1), 0);
    collected got = {{WR_BUF_INIT, WR_BUF_INIT}};
    wr_shell_receive_args ra = {
        .streams = "stdout stderr", .command_id = cid, .cb = collect, .payload = &got};
    wr_receive_result res;
    assert_int_equal(wr_shell_receive(sh, &ra, &res), 0);
    assert_string_equal(wr_buf_cstr(&got.out[0]), "output 1\noutput 2\n");
    assert_int_equal(wr_shell_signal(sh, cid, WR_SIGNAL_CTRL_C), 0);
    assert_int_equal(wr_shell_delete(sh), 0);
    const char *names[] = {"Create", "Command", "Send", "Send End", "Receive", "Signal", "Delete"};
    for (size_t i = 0; i < 7; i++)
        compare_requests(fake.requests[i], rec.msgs[i].request, names[i]);
    free(cid);
    wr_buf_free(&got.out[0]);
    wr_buf_free(&got.out[1]);
    wr_shell_free(sh);
    wr_wsman_free(w);
    rec_fake_free(&fake);
    rec_free(&rec);
}

/* PSRP's Create as pypsrp sent it: our body matches with the same extra. */
static void test_matches_pypsrp_psrp_create(void **state)
{
    (void)state;
    recording rec = rec_load("test_psrp_open_runspace.yml");
    const char *theirs = rec.msgs[0].request;
    const char *cx = strstr(theirs, "<creationXml");
    const char *cx_end = strstr(cx, "</creationXml>") + strlen("</creationXml>");
    char *extra = strndup(cx, (size_t)(cx_end - cx));
    wr_shell_create_args pa = {.resource_uri =
                                   "http://schemas.microsoft.com/powershell/Microsoft.PowerShell",
                               .shell_id = "76056A84-51DC-4F24-9262-CA2A55464B2B",
                               .input_streams = "stdin pr",
                               .output_streams = "stdout",
                               .extra_body = extra};
    wr_option pv = {"protocolversion", "2.3", 1};
    wr_envelope e = {.to = "https://127.0.0.1:55986/wsman",
                     .resource_uri = pa.resource_uri,
                     .action = WR_ACTION_CREATE,
                     .message_id = MSG_ID,
                     .max_envelope_size = 153600,
                     .operation_timeout_ms = 20000,
                     .session_id = SESSION_ID,
                     .options = &pv,
                     .noptions = 1};
    wr_buf body = WR_BUF_INIT, b = WR_BUF_INIT;
    assert_int_equal(wr_shell_build_create(&body, &pa), 0);
    assert_int_equal(wr_envelope_build(&b, &e, (const char *)body.data, body.len), 0);
    compare_requests(wr_buf_cstr(&b), theirs, "PSRP Create");
    assert_non_null(strstr(wr_buf_cstr(&b), "<w:Option Name=\"protocolversion\" "
                                            "MustComply=\"true\">2.3</w:Option>"));
    free(extra);
    wr_buf_free(&body);
    wr_buf_free(&b);
    rec_free(&rec);
}

/* ---- replies: Create ids, headers ------------------------------------ */

static char *created_id(const char *rel)
{
    size_t len;
    char *xml = rec_read_file(rel, &len);
    wr_reply r = WR_REPLY_INIT;
    assert_int_equal(wr_reply_parse(&r, xml, len), 0);
    char *id = NULL;
    assert_int_equal(wr_shell_parse_created(r.body, &id), 0);
    wr_reply_free(&r);
    free(xml);
    return id;
}

static void test_create_replies(void **state)
{
    (void)state;
    char *id = created_id("winrb-winrm/responses/open_shell_v2.xml");
    assert_string_equal(id, "62DE33F0-8674-43D9-B6A5-3298012CC4CD");
    free(id);

    /* OMI pads every text node with whitespace and newlines. */
    size_t len;
    char *xml = rec_read_file("winrb-winrm/responses/open_shell_omi.xml", &len);
    wr_reply r = WR_REPLY_INIT;
    assert_int_equal(wr_reply_parse(&r, xml, len), 0);
    assert_string_equal(r.action, "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse");
    assert_string_equal(r.relates_to, "uuid:C872AD16-50F1-4CD3-908B-35AED7E485B7");
    assert_int_equal(wr_shell_parse_created(r.body, &id), 0);
    assert_non_null(id);
    assert_null(strpbrk(id, " \n\t"));
    free(id);
    wr_reply_free(&r);
    free(xml);

    /* Old servers: "uuid:"-prefixed ids are kept verbatim; rsp:Shell only. */
    const char *old = "<s:Envelope xmlns:s=\"" WR_NS_SOAP "\" xmlns:rsp=\"" WR_NS_SHELL
                      "\"><s:Body><rsp:Shell><rsp:ShellId>uuid:ABC</rsp:ShellId></rsp:Shell>"
                      "</s:Body></s:Envelope>";
    assert_int_equal(wr_reply_parse(&r, old, strlen(old)), 0);
    assert_int_equal(wr_shell_parse_created(r.body, &id), 0);
    assert_string_equal(id, "uuid:ABC");
    free(id);
    wr_reply_free(&r);

    const char *none = "<s:Envelope xmlns:s=\"" WR_NS_SOAP "\"><s:Body/></s:Envelope>";
    assert_int_equal(wr_reply_parse(&r, none, strlen(none)), 0);
    assert_int_equal(wr_shell_parse_created(r.body, &id), WINRSH_EPROTO);
    assert_int_equal(wr_shell_parse_command_id(r.body, &id), WINRSH_EPROTO);
    wr_reply_free(&r);
}

/* The largest Send fits the envelope limit, which for Sends is at most
 * 150 KB whatever the reply limit. */
static void test_send_capacity(void **state)
{
    (void)state;
    unsigned long sizes[] = {8192, 153600, 512000};
    for (size_t k = 0; k < 3; k++) {
        rec_fake fake = {0};
        wr_wsman_options o = {.url = "https://a-rather-long-host-name.example.com:5986/wsman",
                              .post = rec_fake_post,
                              .post_ctx = &fake,
                              .max_envelope_size = sizes[k]};
        wr_wsman *w = NULL;
        assert_int_equal(wr_wsman_open(&w, &o), 0);
        wr_shell *sh = NULL;
        assert_int_equal(wr_shell_attach(&sh, w, WR_URI_SHELL_CMD, SHELL_ID), 0);
        size_t cap = wr_shell_send_capacity(sh, COMMAND_ID);
        unsigned long limit = sizes[k] < 153600 ? sizes[k] : 153600;
        assert_true(cap > limit / 2);
        unsigned char *data = calloc(1, cap);
        wr_buf body = WR_BUF_INIT;
        assert_int_equal(wr_shell_build_send(&body, "stdin", COMMAND_ID, data, cap, 1), 0);
        wr_wsman_call c = {.action = WR_ACTION_SEND,
                           .resource_uri = WR_URI_SHELL_CMD,
                           .shell_id = SHELL_ID,
                           .body = (const char *)body.data,
                           .body_len = body.len};
        size_t size = 0;
        assert_int_equal(wr_wsman_envelope_size(w, &c, &size), 0);
        assert_true(size <= limit);
        assert_true(size > limit - 512);
        free(data);
        wr_buf_free(&body);
        wr_shell_free(sh);
        wr_wsman_free(w);
    }
}

static int teardown_all(void **state)
{
    (void)state;
    winrsh_error_clear();
    xmlCleanupParser();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delete_exact_bytes),
        cmocka_unit_test(test_receive_exact_bytes),
        cmocka_unit_test(test_identify_exact_bytes),
        cmocka_unit_test(test_bodies_exact_bytes),
        cmocka_unit_test(test_bad_environment),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_escape_round_trip),
        cmocka_unit_test(test_xpath_create),
        cmocka_unit_test(test_matches_pypsrp_standard),
        cmocka_unit_test(test_matches_pypsrp_send),
        cmocka_unit_test(test_matches_pypsrp_psrp_create),
        cmocka_unit_test(test_create_replies),
        cmocka_unit_test(test_send_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
