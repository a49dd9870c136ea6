/*
 * fuzz_psrp_message.c: a reassembled PSRP message (psrp/message.c): the
 * 40-byte header (destination, type, RPID, PID) and, as the runspace
 * dispatches it, its CLIXML body read by the record reader of its type.
 *
 * Input: one message. Seeds: the messages reassembled from the fragments
 * of tests/fixtures/pypsrp/responses/ (*.yml), one per message type.
 */
#include "fuzz_common.h"

#include "common/error.h"
#include "common/guid.h"
#include "psrp/message.h"
#include "psrp/records.h"
#include "winrsh/common.h"
#include "winrsh/psobject.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    winrsh_global_init();
    return 0;
}

static void body(uint32_t type, const winrsh_psobject *o)
{
    switch (type) {
    case WR_PSRP_ERROR_RECORD: {
        wr_psrp_error_record er;
        if (wr_psrp_error_record_read(o, &er) == 0) {
            wr_buf out = WR_BUF_INIT;
            wr_psrp_error_record_format(&er, &out);
            wr_buf_free(&out);
        }
        break;
    }
    case WR_PSRP_WARNING_RECORD:
    case WR_PSRP_VERBOSE_RECORD:
    case WR_PSRP_DEBUG_RECORD:
        (void)wr_psrp_informational_message(o);
        break;
    case WR_PSRP_INFORMATION_RECORD: {
        wr_psrp_information info;
        (void)wr_psrp_information_read(o, &info);
        break;
    }
    case WR_PSRP_PROGRESS_RECORD: {
        wr_psrp_progress p;
        (void)wr_psrp_progress_read(o, &p);
        break;
    }
    case WR_PSRP_PIPELINE_STATE: {
        wr_psrp_state s;
        (void)wr_psrp_pipeline_state_read(o, &s);
        break;
    }
    case WR_PSRP_RUNSPACEPOOL_STATE: {
        wr_psrp_state s;
        (void)wr_psrp_pool_state_read(o, &s);
        break;
    }
    case WR_PSRP_PIPELINE_HOST_CALL:
    case WR_PSRP_RUNSPACEPOOL_HOST_CALL: {
        wr_psrp_host_call hc;
        if (wr_psrp_host_call_read(o, &hc) == 0) {
            (void)wr_psrp_host_method_name(hc.method_id);
            (void)wr_psrp_host_method_returns(hc.method_id);
        }
        break;
    }
    default: {
        char *json = NULL;
        size_t len = 0;
        if (winrsh_psobject_to_json(o, 2, &json, &len) == 0)
            winrsh_psobject_free_string(json);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wr_psrp_message m;
    if (wr_psrp_message_parse(&m, data, size) == 0) {
        if (m.len > size || (m.len && (const uint8_t *)m.data < data) ||
            (m.len && (const uint8_t *)m.data + m.len > data + size))
            abort(); /* the body must lie inside the message */
        (void)wr_psrp_message_type_name(m.type);
        char a[37], b[37];
        wr_guid_format(&m.rpid, 0, a);
        wr_guid_format(&m.pid, 1, b);
        winrsh_psobject *o = NULL;
        if (winrsh_psobject_from_clixml(&o, m.data, m.len) == 0) {
            body(m.type, o);
            winrsh_psobject_free(o);
        }
    }
    winrsh_error_clear();
    return 0;
}
