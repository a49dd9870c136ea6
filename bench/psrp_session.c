/*
 * psrp_session.c: bench case 5, PowerShell remoting in an open session.
 *
 *     psrp_session URL USER AUTH ROUNDTRIPS OBJECTS
 *
 * AUTH is basic (unencrypted HTTP, lab mode), ntlm (message encryption) or
 * none (ssh://[USER@]HOST[:PORT]: OpenSSH authenticates; USER may be "");
 * the password comes from $WINRSH_PASSWORD, TrustedHosts from
 * $WINRSH_CONFIG_DIR. Opens a runspace pool (timed on its own), runs the
 * script `Get-Date` ROUNDTRIPS times (one pipeline each: new, invoke,
 * wait for Completed, free) and then `1..OBJECTS` once, counting the output
 * objects. Prints one JSON line:
 *
 *     {"open_s":..,"roundtrips":N,"rt_median_ms":..,"rt_mean_ms":..,
 *      "objects":M,"objects_s":..,"objects_cpu_s":..,"requests_rt":..,
 *      "requests_objects":..}
 *
 * objects_cpu_s is this process's user+system CPU over the 1..OBJECTS
 * pipeline alone (getrusage). Exit status 0 when every pipeline completed
 * and the object count is right.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <winrsh/winrsh.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int count_object(const winrsh_psobject *obj, void *payload)
{
    (void)obj;
    (*(long *)payload)++;
    return 0;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "psrp_session: %s: %s (%s)\n", what, winrsh_error_last()->message,
            winrsh_error_name(rc));
    return 2;
}

/* Run one script to completion; *count gets the number of output objects. */
static int run_script(winrsh_runspace *rs, const char *script, long *count)
{
    winrsh_pipeline_options po;
    winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION);
    po.output = count_object;
    po.payload = count;
    winrsh_pipeline *p = NULL;
    int rc;
    if ((rc = winrsh_pipeline_new(&p, rs, &po)) < 0)
        return rc;
    if ((rc = winrsh_pipeline_add_script(p, script)) == 0 &&
        (rc = winrsh_pipeline_invoke(p)) == 0)
        rc = winrsh_pipeline_wait(p);
    if (rc == 0 && winrsh_pipeline_get_state(p) != WINRSH_PIPELINE_COMPLETED)
        rc = -1;
    winrsh_pipeline_free(p);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s URL USER basic|ntlm|none ROUNDTRIPS OBJECTS\n", argv[0]);
        return 2;
    }
    const char *auth = argv[3];
    long nrt = strtol(argv[4], NULL, 10);
    long nobj = strtol(argv[5], NULL, 10);
    if (nrt <= 0)
        nrt = 1;
    if (nobj <= 0)
        nobj = 1;

    winrsh_session_options so;
    winrsh_session_options_init(&so, WINRSH_SESSION_OPTIONS_VERSION);
    so.user = argv[2];
    so.password = getenv("WINRSH_PASSWORD");
    so.config_dir = getenv("WINRSH_CONFIG_DIR");
    if (strcmp(auth, "basic") == 0) {
        so.auth = WINRSH_AUTH_BASIC;
        so.allow_unencrypted = 1;
    } else if (strcmp(auth, "ntlm") == 0) {
        so.auth = WINRSH_AUTH_NTLM;
    } else if (strcmp(auth, "none") == 0) {
        so.password = NULL;
        if (!*so.user)
            so.user = NULL;
    } else {
        fprintf(stderr, "psrp_session: AUTH must be basic, ntlm or none\n");
        return 2;
    }
    double *rt = calloc((size_t)nrt, sizeof(double));
    if (!rt || winrsh_global_init() < 0)
        return 2;

    winrsh_session *session = NULL;
    winrsh_runspace *rs = NULL;
    int rc, status = 0;
    double t0 = now_s();
    if ((rc = winrsh_session_open(&session, argv[1], &so)) < 0) {
        status = fail("session", rc);
        goto out;
    }
    if ((rc = winrsh_runspace_open(&rs, session, NULL)) < 0) {
        status = fail("runspace", rc);
        goto out;
    }
    double open_s = now_s() - t0;

    unsigned long r0 = winrsh_session_request_count(session);
    double sum = 0;
    for (long i = 0; i < nrt; i++) {
        long objs = 0;
        double a = now_s();
        if ((rc = run_script(rs, "Get-Date", &objs)) < 0 || objs != 1) {
            status = fail("Get-Date", rc);
            goto out;
        }
        rt[i] = (now_s() - a) * 1000.0;
        sum += rt[i];
    }
    unsigned long r1 = winrsh_session_request_count(session);
    qsort(rt, (size_t)nrt, sizeof(double), cmp_double);
    double median = nrt % 2 ? rt[nrt / 2] : (rt[nrt / 2 - 1] + rt[nrt / 2]) / 2.0;

    char script[64];
    snprintf(script, sizeof(script), "1..%ld", nobj);
    long got = 0;
    double c0 = cpu_s(), a = now_s();
    if ((rc = run_script(rs, script, &got)) < 0) {
        status = fail(script, rc);
        goto out;
    }
    double objects_s = now_s() - a, objects_cpu = cpu_s() - c0;
    unsigned long r2 = winrsh_session_request_count(session);
    printf("{\"open_s\":%.6f,\"roundtrips\":%ld,\"rt_median_ms\":%.4f,\"rt_mean_ms\":%.4f,"
           "\"objects\":%ld,\"objects_s\":%.6f,\"objects_cpu_s\":%.6f,"
           "\"requests_rt\":%.3f,\"requests_objects\":%lu}\n",
           open_s, nrt, median, sum / (double)nrt, got, objects_s, objects_cpu,
           (double)(r1 - r0) / (double)nrt, r2 - r1);
    fflush(stdout);
    if (got != nobj)
        status = 1;
out:
    winrsh_runspace_free(rs);
    winrsh_session_free(session);
    winrsh_global_shutdown();
    free(rt);
    return status;
}
