#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One record per thread: the public struct, the message storage and the
 * owned fault chain mirrored into public winrsh_fault structs. */
#define WR_FAULT_DEPTH 4

typedef struct {
    winrsh_error pub;
    char message[1024];
    wr_fault *owned;
    winrsh_fault faults[WR_FAULT_DEPTH];
} error_record;

static _Thread_local error_record g_err;

static void mirror_fault(void)
{
    g_err.pub.fault = NULL;
    wr_fault *f = g_err.owned;
    winrsh_fault *prev = NULL;
    for (int i = 0; f && i < WR_FAULT_DEPTH; i++, f = f->provider) {
        winrsh_fault *p = &g_err.faults[i];
        memset(p, 0, sizeof(*p));
        p->code = f->code;
        p->subcode = f->subcode;
        p->reason = f->reason;
        p->machine = f->machine;
        p->message = f->message;
        p->wsman_code = f->wsman_code;
        p->provider_name = f->provider_name;
        if (prev)
            prev->provider = p;
        else
            g_err.pub.fault = p;
        prev = p;
    }
}

void wr_fault_free(wr_fault *f)
{
    while (f) {
        wr_fault *next = f->provider;
        free(f->code);
        free(f->subcode);
        free(f->reason);
        free(f->machine);
        free(f->message);
        free(f->provider_name);
        free(f);
        f = next;
    }
}

static void reset(void)
{
    wr_fault_free(g_err.owned);
    memset(&g_err, 0, sizeof(g_err));
    g_err.pub.message = g_err.message;
}

int wr_error_set(int code, winrsh_error_class klass, const char *fmt, ...)
{
    reset();
    g_err.pub.code = code;
    g_err.pub.klass = klass;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err.message, sizeof(g_err.message), fmt, ap);
    va_end(ap);
    /* One line: error messages end up on a terminal after "winrsh: ". */
    for (char *p = g_err.message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return code;
}

void wr_error_prefix(const char *fmt, ...)
{
    char head[512], tmp[sizeof(g_err.message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    /* Truncation is acceptable: the message is for people and stays one line. */
    size_t hl = strnlen(head, sizeof(tmp) - 3);
    memcpy(tmp, head, hl);
    memcpy(tmp + hl, ": ", 2);
    size_t ml = strnlen(g_err.message, sizeof(tmp) - hl - 3);
    memcpy(tmp + hl + 2, g_err.message, ml);
    tmp[hl + 2 + ml] = 0;
    memcpy(g_err.message, tmp, sizeof(tmp));
    g_err.pub.message = g_err.message;
}

void wr_error_set_http_status(long status)
{
    g_err.pub.http_status = status;
}

void wr_error_set_gss(uint32_t major, uint32_t minor)
{
    g_err.pub.gss_major = major;
    g_err.pub.gss_minor = minor;
}

void wr_error_set_fault(wr_fault *f)
{
    wr_fault_free(g_err.owned);
    g_err.owned = f;
    mirror_fault();
}

const winrsh_error *winrsh_error_last(void)
{
    g_err.pub.message = g_err.message;
    return &g_err.pub;
}

void winrsh_error_clear(void)
{
    reset();
}

const char *winrsh_error_name(int code)
{
    switch (code) {
    case WINRSH_OK: return "WINRSH_OK";
    case WINRSH_ERROR: return "WINRSH_ERROR";
    case WINRSH_ENOMEM: return "WINRSH_ENOMEM";
    case WINRSH_EINVAL: return "WINRSH_EINVAL";
    case WINRSH_EAUTH: return "WINRSH_EAUTH";
    case WINRSH_ECERT: return "WINRSH_ECERT";
    case WINRSH_ETRUST: return "WINRSH_ETRUST";
    case WINRSH_ETIMEOUT: return "WINRSH_ETIMEOUT";
    case WINRSH_EFAULT: return "WINRSH_EFAULT";
    case WINRSH_EPROTO: return "WINRSH_EPROTO";
    case WINRSH_ECLOSED: return "WINRSH_ECLOSED";
    case WINRSH_EUSER: return "WINRSH_EUSER";
    case WINRSH_ECONNECT: return "WINRSH_ECONNECT";
    case WINRSH_EINTR: return "WINRSH_EINTR";
    case WINRSH_EIO: return "WINRSH_EIO";
    default: return "WINRSH_E?";
    }
}
