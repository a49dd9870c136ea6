/*
 * records.h: the server's informational messages as small C structs.
 *
 * All string pointers are borrowed from the winrsh_psobject they were read
 * from and live as long as its document; absent fields are NULL (or "" when
 * the wire carried an empty string).
 *
 *   +--------------------+-------------------------------------------------+
 *   | message (MS-PSRP)  | fields read                                     |
 *   +--------------------+-------------------------------------------------+
 *   | ERROR_RECORD       | ErrorRecord 2.2.3.15: Exception.Message,        |
 *   |  2.2.2.20          | ErrorDetails_Message, ErrorCategory_Category,   |
 *   |                    | ErrorCategory_Message, FullyQualifiedErrorId,   |
 *   |                    | InvocationInfo.{InvocationName,PositionMessage},|
 *   |                    | ErrorDetails_ScriptStackTrace                   |
 *   | WARNING / VERBOSE  | InformationalRecord_Message (2.2.3.16)          |
 *   | / DEBUG 2.2.2.22-24|                                                 |
 *   | INFORMATION        | MessageData, Source, Tags, TimeGenerated        |
 *   |  2.2.2.26          |                                                 |
 *   | PROGRESS 2.2.2.25  | Activity, ActivityId, StatusDescription,        |
 *   |                    | CurrentOperation, ParentActivityId,             |
 *   |                    | PercentComplete, Type, SecondsRemaining         |
 *   | PIPELINE_STATE     | PipelineState, ExceptionAsErrorRecord           |
 *   |  2.2.2.21          |                                                 |
 *   | RUNSPACEPOOL_STATE | RunspaceState, ExceptionAsErrorRecord           |
 *   |  2.2.2.9           |                                                 |
 *   | *_HOST_CALL        | ci (I64), mi (enum I32), mp (list)              |
 *   |  2.2.2.15, 2.2.2.27|                                                 |
 *   +--------------------+-------------------------------------------------+
 */
#ifndef WR_PSRP_RECORDS_H
#define WR_PSRP_RECORDS_H

#include <stdint.h>

#include "common/buf.h"
#include "winrsh/psobject.h"

typedef struct wr_psrp_error_record {
    const char *message;        /* what the error says */
    const char *exception_type; /* e.g. Microsoft.PowerShell.Commands.WriteErrorException */
    const char *fqid;           /* FullyQualifiedErrorId */
    const char *category_info;  /* "NotSpecified: (:) [Write-Error], WriteErrorException" */
    int32_t category;           /* ErrorCategory, 0 NotSpecified */
    const char *command;        /* InvocationInfo.InvocationName, e.g. "Get-Item" */
    const char *position;       /* InvocationInfo.PositionMessage ("At line:1 char:1 ...") */
    const char *script_stack;   /* ErrorDetails_ScriptStackTrace */
} wr_psrp_error_record;

/* Read an ErrorRecord object. WINRSH_EPROTO if it is not one. */
int wr_psrp_error_record_read(const winrsh_psobject *o, wr_psrp_error_record *er);

/*
 * Render as PowerShell 5.1's console does (the NormalView of ErrorRecord):
 *
 *   Get-Item : Cannot find a provider with the name 'FileSystem'.
 *   At line:1 char:1
 *   + Get-Item ...
 *       + CategoryInfo          : ObjectNotFound: (FileSystem:String) [Get-Item], ...
 *       + FullyQualifiedErrorId : ProviderNotFound,Microsoft.PowerShell.Commands...
 *
 * The "command : " prefix appears when the invocation has a name; the
 * position when there is one. Lines end with "\n"; CRLF from the server
 * becomes LF.
 */
int wr_psrp_error_record_format(const wr_psrp_error_record *er, wr_buf *out);

/* WARNING / VERBOSE / DEBUG: the message (InformationalRecord_Message, else ToString). */
const char *wr_psrp_informational_message(const winrsh_psobject *o);

typedef struct wr_psrp_information {
    const winrsh_psobject *data; /* MessageData: often a string, else an object */
    const char *text;            /* MessageData's text (string or ToString) */
    const char *source;
    const char *time;            /* TimeGenerated text */
    const winrsh_psobject *tags; /* list of strings ("PSHOST" for Write-Host) */
    int is_host;                 /* tags hold "PSHOST" */
} wr_psrp_information;

int wr_psrp_information_read(const winrsh_psobject *o, wr_psrp_information *info);

typedef struct wr_psrp_progress {
    const char *activity, *status, *current_operation;
    int32_t activity_id, parent_activity_id, percent_complete, seconds_remaining;
    int32_t type; /* 0 Processing, 1 Completed */
} wr_psrp_progress;

int wr_psrp_progress_read(const winrsh_psobject *o, wr_psrp_progress *p);

typedef struct wr_psrp_state {
    int32_t state;                /* PSInvocationState or RunspacePoolState */
    const winrsh_psobject *error; /* ExceptionAsErrorRecord, or NULL */
} wr_psrp_state;

/* PIPELINE_STATE (PipelineState) and RUNSPACEPOOL_STATE (RunspaceState). */
int wr_psrp_pipeline_state_read(const winrsh_psobject *o, wr_psrp_state *s);
int wr_psrp_pool_state_read(const winrsh_psobject *o, wr_psrp_state *s);

typedef struct wr_psrp_host_call {
    int64_t call_id;
    int32_t method_id;
    const char *method_name;       /* the enum's ToString */
    const winrsh_psobject *params; /* mp: a list (possibly empty) */
} wr_psrp_host_call;

int wr_psrp_host_call_read(const winrsh_psobject *o, wr_psrp_host_call *hc);

#endif
