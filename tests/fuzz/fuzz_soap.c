/*
 * fuzz_soap.c: a WS-Management reply as the server sends it (HTTP 200 or a
 * fault over HTTP 500), through every parser that reads one:
 *
 *   wr_reply_parse          envelope, header (a:Action, a:RelatesTo), body
 *   wr_fault_find/_parse    s:Fault with its nested WSManFault chain,
 *   wr_fault_describe/raise   then the one-line message and the error record
 *   wr_shell_parse_created  rsp:Shell/@ShellId of a CreateResponse
 *   wr_shell_parse_command_id  CommandResponse
 *   wr_shell_parse_receive  ReceiveResponse: rsp:Stream base64, CommandState,
 *                           ExitCode (with and without a command id)
 *   wr_wsman_identify       the whole exchange() path of wsman.c with the
 *                           input as the transport's answer
 *   wr_shell_parse_receive_text  the streaming (SAX) ReceiveResponse reader
 *                           of the Receive hot path, checked against the
 *                           DOM walk: when it takes a reply, the callbacks,
 *                           result and error must be the same (abort if not)
 *
 * Input: the body, as is. Seeds: the SOAP responses and faults recorded
 * in tests/fixtures/pypsrp/responses/ and tests/fixtures/winrb-winrm/.
 */
#include "fuzz_common.h"

#include <strings.h>

#include "common/error.h"
#include "wsman/envelope.h"
#include "wsman/fault.h"
#include "wsman/shell.h"
#include "wsman/wsman.h"
#include "winrsh/common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    winrsh_global_init();
    return 0;
}

/* Touch every byte handed out, so a bad length shows under ASan. */
static int on_stream(const char *stream, const char *command_id, const unsigned char *data,
                     size_t len, int end, void *payload)
{
    size_t *sum = payload;
    *sum += strlen(stream) + (command_id ? strlen(command_id) : 0) + (size_t)end;
    for (size_t i = 0; i < len; i++)
        *sum += data[i];
    return 0;
}

/* Everything a walk tells, for the comparison. */
typedef struct {
    wr_buf log;
    int calls;
    int stop_after;
} transcript;

static int on_stream_log(const char *stream, const char *command_id, const unsigned char *data,
                         size_t len, int end, void *payload)
{
    transcript *t = payload;
    wr_buf_printf(&t->log, "[%s|%s|%d|%zu:", stream, command_id ? command_id : "(null)", end, len);
    wr_buf_append(&t->log, data, len);
    wr_buf_puts(&t->log, "]");
    return t->stop_after && ++t->calls >= t->stop_after;
}

static void finish_transcript(transcript *t, int rc, const wr_receive_result *res)
{
    wr_buf_printf(&t->log, " rc=%d done=%d have=%d exit=%lld msg=%s", rc, res->done,
                  res->have_exit_code, (long long)res->exit_code,
                  rc ? winrsh_error_last()->message : "");
    winrsh_error_clear();
}

/* The streaming reader against the DOM walk on the same reply. */
static void compare_receive(const wr_reply *r, const char *xml, size_t size, const char *id,
                            const char *cid, int stop_after)
{
    transcript a = {WR_BUF_INIT, 0, stop_after}, b = {WR_BUF_INIT, 0, stop_after};
    wr_receive_result ra, rb;
    int brc = wr_shell_parse_receive_text(xml, size, id, cid, on_stream_log, &b, &rb);
    if (brc != -1) {
        finish_transcript(&b, brc, &rb);
        if (!r->doc || wr_fault_find(r->body) || !r->relates_to ||
            strcasecmp(r->relates_to, id) != 0)
            abort(); /* taken, but the DOM path would not have delivered it */
        int arc = wr_shell_parse_receive(r->body, cid, on_stream_log, &a, &ra);
        finish_transcript(&a, arc, &ra);
        if (a.log.len != b.log.len || memcmp(a.log.data, b.log.data, a.log.len) != 0)
            abort();
    }
    wr_buf_free(&a.log);
    wr_buf_free(&b.log);
    winrsh_error_clear();
}

static void stream_reader(const uint8_t *data, size_t size)
{
    /* The reader wants data[size] == 0, as a wr_buf gives it. */
    wr_buf copy = WR_BUF_INIT;
    if (wr_buf_append(&copy, data, size) || !copy.data) {
        wr_buf_free(&copy);
        return;
    }
    wr_reply r = WR_REPLY_INIT;
    if (wr_reply_parse(&r, (const char *)copy.data, size) != 0)
        wr_reply_free(&r); /* doc stays NULL: the reader must not take it */
    winrsh_error_clear();
    const char *id = r.relates_to ? r.relates_to : "uuid:fuzz";
    const char *xml = (const char *)copy.data;
    compare_receive(&r, xml, size, id, NULL, 0);
    compare_receive(&r, xml, size, id, "1A2B3C4D-0000-0000-0000-000000000000", 0);
    compare_receive(&r, xml, size, id, NULL, 1);
    compare_receive(&r, xml, size, "uuid:other", NULL, 0);
    wr_reply_free(&r);
    wr_buf_free(&copy);
}

typedef struct {
    const uint8_t *data;
    size_t size;
    long status;
} answer;

static int post(void *ctx, const char *body, size_t len, long timeout_ms, wr_buf *resp,
                long *status)
{
    (void)body;
    (void)len;
    (void)timeout_ms;
    const answer *a = ctx;
    *status = a->status;
    if (wr_buf_append(resp, a->data, a->size))
        return WINRSH_ENOMEM;
    return 0;
}

static void parse_one(const uint8_t *data, size_t size)
{
    wr_reply r = WR_REPLY_INIT;
    if (wr_reply_parse(&r, (const char *)data, size) == 0) {
        xmlNodePtr fn = wr_fault_find(r.body);
        if (fn) {
            wr_fault *f = NULL;
            if (wr_fault_parse(fn, &f) == 0) {
                char msg[256];
                wr_fault_describe(f, msg, sizeof(msg));
                wr_fault_describe(f, msg, 1);
                wr_fault_raise(f, 500); /* f now belongs to the error record */
                const winrsh_error *e = winrsh_error_last();
                (void)wr_fault_has_code(e->fault, 2150858793u);
            }
        }
        char *id = NULL;
        if (wr_shell_parse_created(r.body, &id) == 0)
            free(id);
        id = NULL;
        if (wr_shell_parse_command_id(r.body, &id) == 0)
            free(id);
        size_t sum = 0;
        wr_receive_result res;
        wr_shell_parse_receive(r.body, NULL, on_stream, &sum, &res);
        wr_shell_parse_receive(r.body, "1A2B3C4D-0000-0000-0000-000000000000", on_stream, &sum,
                               &res);
        wr_shell_parse_receive(r.body, "x", NULL, NULL, &res);
    }
    wr_reply_free(&r);
    winrsh_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_one(data, size);
    stream_reader(data, size);

    answer a = {data, size, size && (data[size - 1] & 1) ? 500 : 200};
    wr_wsman_options o = {
        .url = "http://fuzz:5985/wsman",
        .post = post,
        .post_ctx = &a,
    };
    wr_wsman *w = NULL;
    if (wr_wsman_open(&w, &o) == 0) {
        wr_identity id;
        if (wr_wsman_identify(w, &id) == 0)
            wr_identity_free(&id);
        wr_wsman_free(w);
    }
    winrsh_error_clear();
    return 0;
}
